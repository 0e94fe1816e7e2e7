// Soak tests: many threads and many processes at once under
// the real library. (The resident-size soak of a parent starting thousands of
// children is in tests/children.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "shim_test_util.hpp"

namespace {

using namespace shimtest;

// 16 threads bind at the same moment, 25 times over: every bind is rewritten
// and logged once.
TEST(Soak, SixteenThreadsBindingConcurrentlyAreAllRewritten) {
    for (int round = 0; round < 25; ++round) {
        auto result = helper({"threads", "16", "0.0.0.0:0"}, default_policy());
        EXPECT_EQ(result.status, 0) << result.err;  // tsan preset: 66 on a data race
        auto f = result_of(result);
        ASSERT_EQ(f["ret"], "0") << result.out << result.err;
        std::string locals = f["locals"] + ",";
        int count = 0;
        std::set<std::string> distinct;
        for (std::size_t start = 0, comma; (comma = locals.find(',', start)) != std::string::npos; start = comma + 1) {
            const std::string local = locals.substr(start, comma - start);
            EXPECT_EQ(local.rfind("127.0.0.1:", 0), 0u) << local;
            distinct.insert(local);
            ++count;
        }
        EXPECT_EQ(count, 16);
        EXPECT_EQ(distinct.size(), 16u) << locals;  // 16 real sockets, 16 ports
        EXPECT_EQ(log_lines(result.err).size(), 16u) << result.err;
    }
}

// 20 processes log JSON lines to one file at the same time: every line is whole
// (one write() with O_APPEND each) and every bind is there exactly once.
TEST(Soak, TwentyProcessesLoggingJsonToOneFileWriteNoTornLine) {
    const std::string log = bgtest::temp_dir() + "/bindguard.json.log";
    const auto policy =
        write_policy("version = 1\n[log]\nto = \"file\"\npath = \"" + log + "\"\nformat = \"json\"\nrate = 0\n");
    constexpr int kProcesses = 20;
    constexpr int kBinds = 200;
    std::vector<std::thread> threads;
    std::vector<bgtest::Result> results(kProcesses);
    for (int i = 0; i < kProcesses; ++i)
        threads.emplace_back([&, i] {
            results[i] = helper({"repeat", std::to_string(kBinds), "0.0.0.0:0"}, policy,
                                {"BINDGUARD_SERVICE=soak-" + std::to_string(i)});
        });
    for (auto& thread : threads) thread.join();
    std::set<long> pids;
    for (const auto& result : results) EXPECT_EQ(result_of(result)["failures"], "0") << result.out << result.err;
    const auto written = lines(bgtest::read_file(log));
    ASSERT_EQ(written.size(), static_cast<std::size_t>(kProcesses * kBinds));
    std::map<std::string, int> per_service;
    for (const auto& line : written) {
        auto record = nlohmann::json::parse(line, nullptr, false);
        ASSERT_FALSE(record.is_discarded()) << "torn line: " << line;
        EXPECT_EQ(record["action"], "rewrite") << line;
        per_service[record["service"].get<std::string>()] += 1;
        pids.insert(record["pid"].get<long>());
    }
    EXPECT_EQ(pids.size(), static_cast<std::size_t>(kProcesses));
    ASSERT_EQ(per_service.size(), static_cast<std::size_t>(kProcesses));
    for (const auto& [service, count] : per_service) EXPECT_EQ(count, kBinds) << service;
}

}  // namespace
