// --io-engine as an operator meets it: io_uring refused by a seccomp profile
// (as containerd 2.x / Docker 25+ RuntimeDefault do) falls back to threads
// with one warning under auto and is an error under uring; chunked io_uring
// copies with many chunks in flight give the same tree as the source.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>

#include "io/uring_probe.h"
#include "sync_harness.h"

namespace ha_sync::test {
namespace {

constexpr int64_t kT0 = 1'700'000'000 * kSec;

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
#error "add the AUDIT_ARCH_ of this architecture"
#endif

// Runs $HA_SYNC_BIN in a child whose io_uring_setup fails with EPERM.
RunOutput RunWithUringBlocked(const std::vector<std::string>& args, const std::string& scratch) {
  const std::string out_path = scratch + "/stdout", err_path = scratch + "/stderr";
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      ::_exit(125);
    }
    std::vector<std::string> all = {std::getenv("HA_SYNC_BIN")};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  RunOutput r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  return r;
}

// Lines of `text` containing `what`.
size_t LinesWith(const std::string& text, const std::string& what) {
  size_t n = 0, start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (text.substr(start, end - start).find(what) != std::string::npos) ++n;
    start = end + 1;
  }
  return n;
}

}  // namespace

TEST_CASE("io engine: auto falls back to threads with one warning when seccomp refuses io_uring") {
  TempDir t;
  MakeDirs(t / "scratch");
  WriteFile(t / "src/a/f", std::string(3 << 20, 'a'), kT0);
  WriteFile(t / "src/g", "small", kT0);
  MakeDirs(t / "dest");
  RunOutput r = RunWithUringBlocked(
      SyncArgs(t / "src", t / "dest", t / "log", {"--io-engine", "auto"}), t / "scratch");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(LinesWith(r.err, "io_uring") == 1);
  CHECK(LinesWith(r.err, "warning: io_uring not usable, copying with threads") == 1);
  CHECK(r.err.find("seccomp") != std::string::npos);
  CHECK(Describe(t / "dest") == Describe(t / "src"));
}

TEST_CASE("io engine: uring refused by seccomp is an error (exit 1) that says why; nothing copied") {
  TempDir t;
  MakeDirs(t / "scratch");
  WriteFile(t / "src/g", "small", kT0);
  MakeDirs(t / "dest");
  RunOutput r = RunWithUringBlocked(
      SyncArgs(t / "src", t / "dest", t / "log", {"--io-engine", "uring"}), t / "scratch");
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--io-engine=uring") != std::string::npos);
  CHECK(r.err.find("Operation not permitted") != std::string::npos);
  CHECK_FALSE(Exists(t / "dest/g"));
}

TEST_CASE("io engine: a bad --io-engine or HA_SYNC_IO_ENGINE is a usage error") {
  TempDir t;
  MakeDirs(t / "src");
  MakeDirs(t / "dest");
  RunOutput flag = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--io-engine", "aio"}));
  CHECK(flag.exit_code == 64);
  CHECK(flag.err.find("--io-engine") != std::string::npos);
  // The suite itself runs with HA_SYNC_IO_ENGINE set: replace it for one run.
  const char* was = std::getenv("HA_SYNC_IO_ENGINE");
  const std::string saved = was != nullptr ? was : "";
  ::setenv("HA_SYNC_IO_ENGINE", "fast", 1);
  RunOutput env = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  if (was != nullptr) {
    ::setenv("HA_SYNC_IO_ENGINE", saved.c_str(), 1);
  } else {
    ::unsetenv("HA_SYNC_IO_ENGINE");
  }
  CHECK(env.exit_code == 64);
  CHECK(env.err.find("HA_SYNC_IO_ENGINE") != std::string::npos);
  RunOutput depth = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--queue-depth", "0"}));
  CHECK(depth.exit_code == 64);
  CHECK(depth.err.find("--queue-depth") != std::string::npos);
}

TEST_CASE("io engine: chunked copies with many chunks in flight reproduce the tree exactly") {
  if (!io::ProbeUring().usable) {
    MESSAGE("io_uring not usable here, test skipped");
    return;
  }
  TempDir t;
  std::string big;
  for (int i = 0; i < 200000; ++i) big += static_cast<char>('a' + i % 23);
  big += std::string(100000, '\0') + "end";  // a hole inside
  for (int i = 0; i < 12; ++i) {
    WriteFile(t / ("src/d" + std::to_string(i % 3) + "/f" + std::to_string(i)),
              big.substr(0, big.size() - static_cast<size_t>(i) * 7919), kT0 + i * kSec);
  }
  // Both data paths (the roots share a filesystem: copy_file_range by default).
  for (const std::string data_path : {"--verbose", "--no-copy-file-range"}) {
    CAPTURE(data_path);
    RemoveTree(t / "dest");
    WriteFile(t / "dest/d0/f0", "stale", kT0 - 100 * kSec);
    RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / ("log" + data_path),
                                     {"--io-engine", "uring", "--workers", "6", "--queue-depth", "8",
                                      "--block-size", "4096", data_path}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(Describe(t / "dest") == Describe(t / "src"));
    CHECK(TempFilesUnder(t / "dest").empty());
  }
}

}  // namespace ha_sync::test
