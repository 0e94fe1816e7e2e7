// The kernel twin's set-up of a cgroup (bindguard/kernel_setup.hpp), called directly: what
// it protects once committed, and that it undoes everything when it is not; the names of
// the cgroups it makes.

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "bindguard/kernel_setup.hpp"
#include "kernel/kernel_support.hpp"

namespace {

namespace k = bindguard::kernel;

TEST(CgroupNames, OnlyTheKernelsOwnNamesParse) {
    const auto run = k::parse_cgroup_name("run-4242");
    ASSERT_TRUE(run);
    EXPECT_EQ(run->kind, k::CgroupKind::run);
    EXPECT_EQ(run->pid, 4242);
    const auto counted = k::parse_cgroup_name("run-4242-3");  // the first name was taken
    ASSERT_TRUE(counted);
    EXPECT_EQ(counted->kind, k::CgroupKind::run);
    EXPECT_EQ(counted->pid, 4242);
    const auto relay = k::parse_cgroup_name("relay-17");
    ASSERT_TRUE(relay);
    EXPECT_EQ(relay->kind, k::CgroupKind::relay);
    EXPECT_EQ(relay->pid, 17);
    for (const char* other : {"run-", "run-x", "run-12x", "run-12-", "run-12-x", "run-012", "relay-17-1", "diff-3",
                              "nginx.service", "run", "runs-3", "run-12345678901"})
        EXPECT_FALSE(k::parse_cgroup_name(other)) << other;
}

TEST(ProtectionLabel, NamesServiceProgramAndPolicy) {
    k::Protection protection;
    EXPECT_EQ(k::protection_label(protection), "service=- program=- policy=<built-in>");
    protection.service = "web";
    protection.program = "/usr/bin/caddy";
    protection.policy_path = "/etc/bindguard/policy.toml";
    EXPECT_EQ(k::protection_label(protection), "service=web program=/usr/bin/caddy policy=/etc/bindguard/policy.toml");
}

class KernelSetup : public ::testing::Test {
protected:
    void SetUp() override {
        BGTEST_REQUIRE_KERNEL();
        install_.emplace();
    }
    void TearDown() override { install_.reset(); }

    static k::Protection protection() {
        k::Protection protection;
        protection.program = "/bin/true";
        protection.service = "setup-test";
        return protection;
    }
    k::Programs programs() const {
        std::optional<k::Programs> pinned = k::Programs::open_pinned(install_->names().pin_dir);
        if (!pinned) throw std::runtime_error("nothing pinned");
        return std::move(*pinned);
    }
    // Waits up to 5 s for the programs to hold no rule set (a reaper's or relay's work).
    bool wait_until_no_rule_sets() const {
        for (int i = 0; i < 100; ++i) {
            if (programs().policy_cgroups().empty()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

    std::optional<bgtest::KernelInstall> install_;
};

TEST_F(KernelSetup, ANewCgroupNotCommittedIsRemovedWithItsRuleSet) {
    std::string path;
    {
        k::ProtectedCgroup cgroup = k::ProtectedCgroup::make_new(protection(), -1);
        path = cgroup.path();
        EXPECT_TRUE(k::parse_cgroup_name(path.substr(path.rfind('/') + 1))) << path;
        EXPECT_EQ(cgroup.label(), "service=setup-test program=/bin/true policy=<built-in>");
        EXPECT_EQ(programs().attached(path), "bind4 bind6 sockops");
        EXPECT_EQ(programs().policy_cgroups().size(), 1u);
    }
    EXPECT_TRUE(install_->wait_until_no_cgroups()) << "left: " << install_->cgroups().size();
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_TRUE(wait_until_no_rule_sets());
}

TEST_F(KernelSetup, AnExistingCgroupNotCommittedIsDetachedAndLosesItsRuleSet) {
    bgtest::TestCgroupTree unit("bgtest-setup.service");
    {
        k::ProtectedCgroup cgroup = k::ProtectedCgroup::attach_existing(unit.path(), protection(), -1);
        EXPECT_FALSE(cgroup.attached_before());
        EXPECT_EQ(programs().attached(unit.path()), "bind4 bind6 sockops");
        EXPECT_TRUE(programs().policy(k::cgroup_id(unit.path())));
    }
    EXPECT_EQ(programs().attached(unit.path()), "");
    EXPECT_FALSE(programs().policy(k::cgroup_id(unit.path())));
    EXPECT_TRUE(std::filesystem::exists(unit.path()));  // not ours: it stays
    EXPECT_TRUE(install_->wait_until_no_cgroups()) << "the relay's cgroup is left";
}

TEST_F(KernelSetup, ACommittedAttachStaysAndAFailedOneChangesNothing) {
    bgtest::TestCgroupTree unit("bgtest-setup.service");
    k::ProtectedCgroup::attach_existing(unit.path(), protection(), -1).commit();
    EXPECT_EQ(programs().attached(unit.path()), "bind4 bind6 sockops");
    const std::uint64_t id = k::cgroup_id(unit.path());
    ASSERT_TRUE(programs().policy(id));
    EXPECT_EQ(std::string((*programs().policy(id))->label), "service=setup-test program=/bin/true policy=<built-in>");

    // A rule set too large for the programs: refused before anything is changed; the
    // earlier attach stays as it was.
    k::Protection big = protection();
    auto parsed = bindguard::parse_policy(bgtest::too_large_policy_text(), "big.toml");
    ASSERT_TRUE(parsed.ok());
    big.policy = *parsed.policy;
    try {
        k::ProtectedCgroup::attach_existing(unit.path(), big, -1);
        ADD_FAILURE() << "a rule set of 400 entries was attached";
    } catch (const k::SetupError& error) {
        EXPECT_NE(std::string(error.what()).find("400 kernel entries"), std::string::npos) << error.what();
        EXPECT_TRUE(error.kept_for.empty());
    }
    EXPECT_EQ(programs().attached(unit.path()), "bind4 bind6 sockops");
    ASSERT_TRUE(programs().policy(id));
    EXPECT_EQ(std::string((*programs().policy(id))->label), "service=setup-test program=/bin/true policy=<built-in>");
}

}  // namespace
