// bg-cxxhost: a small C++ host for the preload library: it uses iostreams and
// std::string, binds a TCP socket to the address given, then throws and catches
// an exception, so a test can see that a host with its own libstdc++ works with
// the library loaded. Prints "ret=R errno=E local=ADDR caught=MESSAGE".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

int main(int argc, char** argv) {
    const std::string host = argc > 1 ? argv[1] : "0.0.0.0";
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
        std::cerr << "bg-cxxhost: bad address " << host << '\n';
        return 2;
    }
    const int ret = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    const int error = ret == 0 ? 0 : errno;
    sockaddr_in local{};
    socklen_t length = sizeof local;
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
    char text[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &local.sin_addr, text, sizeof text);
    std::ostringstream line;
    line << "ret=" << ret << " errno=" << error << " local=" << text << ':' << ntohs(local.sin_port);
    try {
        throw std::runtime_error("after-bind");
    } catch (const std::exception& caught) {
        line << " caught=" << caught.what();
    }
    std::cout << line.str() << std::endl;
    close(fd);
    return 0;
}
