// The capability probe, including the refusals seen in production: a child
// process installs a seccomp filter that makes io_uring_setup fail the way
// container runtimes' RuntimeDefault profiles do, then probes.
#include "io/uring_probe.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstddef>
#include <fstream>
#include <string>

#include "io/uring_ring.h"

namespace ha_sync::io {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
#error "add the AUDIT_ARCH_ of this architecture"
#endif

// Makes io_uring_setup fail with `err` in this process (irreversibly).
bool BlockIoUringSetup(int err) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<uint32_t>(err) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

struct ChildReport {
  bool filter_installed = false;
  bool usable = true;
  int probe_err = 0;
  int create_err = 0;
  std::string message;
};

// Runs the probe and Ring::Create in a child whose io_uring_setup fails with `err`.
ChildReport ProbeUnderSeccomp(int err) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string out = "0";
    if (BlockIoUringSetup(err)) {
      const UringSupport s = ProbeUring();
      auto ring = Ring::Create(4);
      out = "1 " + std::to_string(s.usable) + " " + std::to_string(s.status.err()) + " " +
            std::to_string(ring.ok() ? 0 : ring.status().err()) + " " + s.status.message();
    }
    const ssize_t n = ::write(fds[1], out.data(), out.size());
    ::_exit(n == static_cast<ssize_t>(out.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string text;
  char buf[1024];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  ChildReport r;
  if (text.empty() || text[0] != '1') return r;
  r.filter_installed = true;
  size_t pos = 2;
  auto next_int = [&] {
    const size_t sp = text.find(' ', pos);
    const int v = std::stoi(text.substr(pos, sp - pos));
    pos = sp + 1;
    return v;
  };
  r.usable = next_int() != 0;
  r.probe_err = next_int();
  r.create_err = next_int();
  r.message = text.substr(pos);
  return r;
}

TEST_CASE("uring probe: this kernel either offers every needed opcode or says why not") {
  const UringSupport s = ProbeUring();
  if (s.usable) {
    CHECK(s.status.ok());
    CHECK(s.missing_ops.empty());
  } else {
    CHECK_FALSE(s.status.ok());
    CHECK_FALSE(s.status.message().empty());
    MESSAGE("io_uring not usable here: " << s.status.message());
  }
}

TEST_CASE("uring probe: a seccomp profile answering EPERM is detected and explained") {
  const ChildReport r = ProbeUnderSeccomp(EPERM);
  REQUIRE(r.filter_installed);
  CHECK_FALSE(r.usable);
  CHECK(r.probe_err == EPERM);
  CHECK(r.create_err == EPERM);
  CHECK(r.message.find("set up 'io_uring'") != std::string::npos);
  CHECK(r.message.find("Operation not permitted") != std::string::npos);
  // With the sysctl allowing io_uring, the explanation must be seccomp;
  // with it restricting, the sysctl is the likelier cause and is named.
  std::ifstream sysctl("/proc/sys/kernel/io_uring_disabled");
  int disabled = 0;
  sysctl >> disabled;
  CHECK(r.message.find(disabled == 0 ? "seccomp" : "kernel.io_uring_disabled") != std::string::npos);
}

TEST_CASE("uring probe: a seccomp profile answering ENOSYS is detected and explained") {
  const ChildReport r = ProbeUnderSeccomp(ENOSYS);
  REQUIRE(r.filter_installed);
  CHECK_FALSE(r.usable);
  CHECK(r.probe_err == ENOSYS);
  CHECK(r.create_err == ENOSYS);
  CHECK(r.message.find("seccomp") != std::string::npos);
  CHECK(r.message.find("without it") != std::string::npos);
}

}  // namespace
}  // namespace ha_sync::io
