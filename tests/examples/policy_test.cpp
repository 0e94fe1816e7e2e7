// examples/doable/policy.toml: it is valid, its per-service rules name the seeds' rows,
// and a service under such a rule really listens (regression: listen() used to refuse a
// socket that the same rewrite rule had just put on loopback).
#include <signal.h>

#include "doable_support.hpp"

namespace {

// `bindguard explain --policy policy.toml --service SERVICE ADDRESS`. Returns its one line.
std::string explain(const std::string& service, const std::string& address) {
    bgtest::Result result = bgtest::run(
        {bgtest::cli_path(), "explain", "--policy", doable::policy_path(), "--service", service, address}, doable::clean_env());
    EXPECT_EQ(result.status, 0) << result.err;
    return result.out.substr(0, result.out.find('\n'));
}

TEST(DoablePolicy, ChecksClean) {
    bgtest::Result result = bgtest::run({bgtest::cli_path(), "check", doable::policy_path()}, doable::clean_env());
    EXPECT_EQ(result.status, 0) << result.out << result.err;
    EXPECT_EQ(result.out, doable::policy_path() + ": ok (7 rules)\n");
    EXPECT_EQ(result.err, "");
}

TEST(DoablePolicy, EachServiceIsRewrittenByItsSeedsRow) {
    EXPECT_EQ(explain("web", "192.0.2.10:3000"), "rewrite tcp 192.0.2.10:3000 -> 127.0.0.1:3000 (rule doable-web)");
    EXPECT_EQ(explain("web", "[::]:3000"), "rewrite tcp [::]:3000 -> [::ffff:127.0.0.1]:3000 (rule doable-web)");
    EXPECT_EQ(explain("api", "[::]:4000"), "rewrite tcp [::]:4000 -> [::ffff:127.0.0.1]:4000 (rule doable-api)");
    EXPECT_EQ(explain("ws", "0.0.0.0:4001"), "rewrite tcp 0.0.0.0:4001 -> 127.0.0.1:4001 (rule doable-ws)");
    // What the rule produced is allowed by the same rule (what listen() checks).
    EXPECT_EQ(explain("api", "[::ffff:127.0.0.1]:4000"), "allow tcp [::ffff:127.0.0.1]:4000 (rule doable-api)");
    EXPECT_EQ(explain("ws", "127.0.0.1:4001"), "allow tcp 127.0.0.1:4001 (rule doable-ws)");
    // A rule is for its service on its port only; anything else still meets the default.
    EXPECT_EQ(explain("api", "0.0.0.0:3000"), "rewrite tcp 0.0.0.0:3000 -> 127.0.0.1:3000 (rule default)");
    EXPECT_EQ(explain("web", "0.0.0.0:4000"), "rewrite tcp 0.0.0.0:4000 -> 127.0.0.1:4000 (rule default)");
}

// The API under `bindguard run --service api` on its seeds' port 4000, asking for `host`
// ("" = Node's default '::'), in a private network namespace: it must start, listen on
// `expected`, answer, and its stderr must hold `logged` (empty: no log line at all).
void expect_api_listens(const std::string& host, const std::string& expected, const std::string& logged) {
    ASSERT_TRUE(doable::services_built());
    ASSERT_TRUE(doable::enter_private_netns());
    doable::Service api{doable::Launcher::api, doable::Host::framework_default};
    std::vector<std::string> env = doable::protected_env(api);
    if (!host.empty()) env.push_back("API_HOST=" + host);
    bgtest::Process process = bgtest::Process::start(doable::protected_argv(api), env);

    std::string why;
    auto listeners = doable::wait_listening(process, 4000, why);
    ASSERT_TRUE(listeners.has_value()) << why;
    ASSERT_EQ(listeners->size(), 1u);
    EXPECT_EQ(listeners->front().local, expected);
    auto response = doable::http_get_patiently("127.0.0.1", 4000, "/health");
    ASSERT_TRUE(response.has_value());
    EXPECT_NE(response->find("{\"ok\":true,\"service\":\"api\"}"), std::string::npos) << *response;

    // The library is loaded in it: the silence is not its absence.
    doable::Audit audit = doable::audit();
    EXPECT_EQ(audit.status, 0) << audit.out << audit.err;
    auto entries = audit.tcp_on_port(4000);
    ASSERT_EQ(entries.size(), 1u) << audit.out;
    EXPECT_EQ(entries[0]["protected"], true) << entries[0];
    EXPECT_EQ(entries[0]["verdict"], "ok") << entries[0];

    bgtest::Result stopped = process.stop(SIGTERM, doable::kStopTimeout);
    EXPECT_EQ(stopped.status, 0) << stopped.err;
    EXPECT_NE(stopped.out.find("api: listening on " + expected + "\n"), std::string::npos) << stopped.out;
    if (logged.empty()) {
        EXPECT_EQ(stopped.err.find("bindguard["), std::string::npos) << stopped.err;
    } else {
        EXPECT_NE(stopped.err.find(logged), std::string::npos) << "expected \"" << logged << "\" in:\n" << stopped.err;
    }
    EXPECT_EQ(stopped.err.find("cannot listen"), std::string::npos) << stopped.err;
    EXPECT_EQ(stopped.err.find("deny"), std::string::npos) << stopped.err;
}

TEST(DoablePolicyRule, RewrittenByDoableApiAndStillListens) {
    expect_api_listens("", "[::ffff:127.0.0.1]:4000",
                       "rewrite tcp [::]:4000 -> [::ffff:127.0.0.1]:4000 rule=doable-api program=");
}

TEST(DoablePolicyRule, ExplicitWildcardRewrittenByDoableApiAndStillListens) {
    expect_api_listens("0.0.0.0", "127.0.0.1:4000", "rewrite tcp 0.0.0.0:4000 -> 127.0.0.1:4000 rule=doable-api program=");
}

TEST(DoablePolicyRule, AlreadyOnLoopbackIsAllowedByDoableApiSilently) {
    expect_api_listens("127.0.0.1", "127.0.0.1:4000", "");
}

}  // namespace
