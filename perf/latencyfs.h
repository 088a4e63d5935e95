// latencyfs: shared parts of the two FUSE front ends (latencyfs_lowlevel.cc,
// latencyfs_highlevel.cc): configuration, the emulated network (latency per
// round trip, a bandwidth-capped link per direction, NFS close-to-open
// costs) and the per-request counters written as JSON (latencyfs.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace latencyfs {

struct Config {
  std::string backing;
  std::string mountpoint;
  std::string mode = "lowlevel";  // or "highlevel", the front end of the figures before issue 14
  std::string stats_path;         // --stats FILE: counters as JSON on SIGUSR1 and at exit
  long latency_ns = 300'000;
  long data_latency_ns = -1;
  double bw_bytes_per_s = 110e6;  // 1 GbE payload rate, each direction its own link
  bool close_to_open = true;      // GETATTR round trip on OPEN, COMMIT after writes
  unsigned threads = 32;
  bool readdirplus = true;
  double attr_timeout = 1.0;
  bool debug = false;
};

extern Config g_cfg;

// Every kind of request the kernel sends that a front end serves. The JSON
// names are the kernel's opcode names (FUSE_LOOKUP -> "LOOKUP").
enum class Op : int {
  kLookup,
  kForget,
  kBatchForget,
  kGetattr,
  kSetattr,
  kReadlink,
  kMknod,
  kMkdir,
  kUnlink,
  kRmdir,
  kSymlink,
  kRename,
  kLink,
  kOpen,
  kRead,
  kWrite,
  kFlush,
  kRelease,
  kFsync,
  kOpendir,
  kReaddir,
  kReaddirplus,
  kReleasedir,
  kFsyncdir,
  kStatfs,
  kAccess,
  kCreate,
  kGetxattr,
  kSetxattr,
  kListxattr,
  kRemovexattr,
  kFallocate,
  kCopyFileRange,
  kLseek,
  kCount,
};

// Round trips the emulation adds on top of the kernel's requests.
enum class Extra : int {
  kOpenGetattr,  // close-to-open revalidation on OPEN
  kCommit,       // stable storage for unstable WRITEs, on FLUSH/RELEASE/FSYNC
  kCount,
};

void Count(Op op);
void CountExtra(Extra e);

// One network round trip of the configured latency.
void RoundTrip();
// The round trip of a READ or WRITE plus its bytes on the link of that
// direction; bytes are counted too.
void ReadTransfer(size_t bytes);
void WriteTransfer(size_t bytes);
// Close-to-open costs; no-ops with --no-close-to-open.
void OpenRevalidate();
void Commit();

// Front ends: run until unmounted or signalled; 0 on a clean exit.
int RunLowLevel();
int RunHighLevel();

// Writes the counters as JSON to g_cfg.stats_path (no-op without --stats).
void WriteStats();
// Set by the low-level front end once the kernel's INIT has been answered:
// whether the kernel offered FUSE_PARALLEL_DIROPS and whether the INIT reply
// turned it on.
void NoteParallelDirops(bool capable, bool negotiated);

}  // namespace latencyfs
