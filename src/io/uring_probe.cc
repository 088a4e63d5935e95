#include "io/uring_probe.h"

#include <liburing.h>

#include <cerrno>
#include <fstream>

namespace ha_sync::io {

namespace {

struct RequiredOp {
  int opcode;
  const char* name;
};

constexpr RequiredOp kRequired[] = {
    {IORING_OP_STATX, "statx"},         {IORING_OP_OPENAT2, "openat2"},
    {IORING_OP_READ_FIXED, "read_fixed"}, {IORING_OP_WRITE_FIXED, "write_fixed"},
    {IORING_OP_CLOSE, "close"},         {IORING_OP_RENAMEAT, "renameat"},
    {IORING_OP_UNLINKAT, "unlinkat"},   {IORING_OP_MKDIRAT, "mkdirat"},
    {IORING_OP_SYMLINKAT, "symlinkat"}, {IORING_OP_FSYNC, "fsync"},
    {IORING_OP_READ, "read"},           {IORING_OP_WRITE, "write"},
};

// The value of kernel.io_uring_disabled, or -1 when the kernel has no such
// sysctl (before 6.6) or it cannot be read.
int IoUringDisabledSysctl() {
  std::ifstream in("/proc/sys/kernel/io_uring_disabled");
  int v = -1;
  if (!(in >> v)) return -1;
  return v;
}

std::string LikelyCause(int err) {
  const int sysctl = IoUringDisabledSysctl();
  if (err == EPERM && sysctl == 2) return "kernel.io_uring_disabled=2 disables io_uring for everyone";
  if (err == EPERM && sysctl == 1) {
    return "kernel.io_uring_disabled=1 allows io_uring only to members of kernel.io_uring_group";
  }
  if (err == EPERM || err == ENOSYS) {
    return "most likely a seccomp profile blocks io_uring (the RuntimeDefault profiles of "
           "containerd 2.x and Docker 25+ do)" +
           std::string(err == ENOSYS ? ", or the kernel was built without it" : "");
  }
  if (err == ENOMEM) return "the ring could not be allocated (locked-memory limit, RLIMIT_MEMLOCK)";
  return "the kernel refused to set up a ring";
}

}  // namespace

UringSupport ProbeUring() {
  UringSupport out;
  struct io_uring ring;
  const int rc = io_uring_queue_init(4, &ring, 0);
  if (rc < 0) {
    const int err = -rc;
    Status s = Status::FromErrno(err, "set up", "io_uring");
    out.status = Status::Error(s.message() + " (" + LikelyCause(err) + ")", err);
    return out;
  }
  struct io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) {
    io_uring_queue_exit(&ring);
    out.status = Status::Error("io_uring is present but cannot report its opcodes (kernel older than 5.6)");
    return out;
  }
  for (const RequiredOp& op : kRequired) {
    if (!io_uring_opcode_supported(probe, op.opcode)) out.missing_ops.push_back(op.name);
  }
  io_uring_free_probe(probe);
  io_uring_queue_exit(&ring);
  if (!out.missing_ops.empty()) {
    std::string list;
    for (const std::string& name : out.missing_ops) list += (list.empty() ? "" : ", ") + name;
    out.status = Status::Error("io_uring lacks operations the executor needs: " + list +
                               " (kernel 5.15 or newer has them all)");
    return out;
  }
  out.usable = true;
  return out;
}

}  // namespace ha_sync::io
