// latencyfs: a FUSE passthrough that makes a local directory behave like an
// NFS mount for measuring: every request waits a fixed latency (one network
// round trip) before it is served, reads and writes share a link bandwidth
// per direction, an OPEN revalidates attributes and a close after writes
// commits them (NFS close-to-open), and the server is multi-threaded so
// requests from parallel clients overlap as they do against an NFS server.
//
//   latencyfs BACKING MOUNTPOINT [--mode lowlevel|highlevel] [--stats FILE]
//             [--latency-us 300] [--data-latency-us N] [--bw-mbps 110]
//             [--no-close-to-open] [--threads 32] [--no-readdirplus]
//             [--attr-timeout 1.0] [--debug]
//
// --mode             lowlevel (default): inode-based FUSE API with
//                    FUSE_PARALLEL_DIROPS, so lookups and listings in one
//                    directory overlap as on an NFS client (creates, renames
//                    and unlinks hold the directory's VFS lock, there as on
//                    NFS); highlevel: the path-based front end the figures
//                    before issue 14 were measured with (lookups in one
//                    directory are serialised there)
// --stats FILE       request counts by kind as JSON, written on SIGUSR1 and at
//                    exit; SIGUSR2 resets them (see perf/README.md)
// --latency-us       per request (LOOKUP, GETATTR, READDIR, OPEN, CREATE, RENAME...)
// --data-latency-us  per READ/WRITE request (default: --latency-us)
// --bw-mbps          cap on bytes read and on bytes written, each direction
//                    its own link, in MB/s (10^6 B/s); 0 = none
// --no-close-to-open no GETATTR round trip on OPEN, no COMMIT after writes
// --no-readdirplus   directory listings return names only, so each entry's
//                    attributes cost a LOOKUP (like NFSv3 READDIR); the default
//                    returns attributes with the listing (READDIRPLUS)
// --attr-timeout     seconds the kernel may cache attributes and names
//
// Runs in the foreground until unmounted (fusermount3 -u MOUNTPOINT) or
// signalled. A perf tool only: no tests depend on it.
#include "latencyfs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace latencyfs {

Config g_cfg;

namespace {

constexpr std::array<const char*, static_cast<size_t>(Op::kCount)> kOpNames = {
    "LOOKUP",   "FORGET",      "BATCH_FORGET", "GETATTR",    "SETATTR",  "READLINK",        "MKNOD",
    "MKDIR",    "UNLINK",      "RMDIR",        "SYMLINK",    "RENAME",   "LINK",            "OPEN",
    "READ",     "WRITE",       "FLUSH",        "RELEASE",    "FSYNC",    "OPENDIR",         "READDIR",
    "READDIRPLUS", "RELEASEDIR", "FSYNCDIR",   "STATFS",     "ACCESS",   "CREATE",          "GETXATTR",
    "SETXATTR", "LISTXATTR",   "REMOVEXATTR",  "FALLOCATE",  "COPY_FILE_RANGE", "LSEEK",
};
constexpr std::array<const char*, static_cast<size_t>(Extra::kCount)> kExtraNames = {"OPEN_GETATTR", "COMMIT"};

std::array<std::atomic<uint64_t>, static_cast<size_t>(Op::kCount)> g_ops{};
std::array<std::atomic<uint64_t>, static_cast<size_t>(Extra::kCount)> g_extra{};
std::atomic<uint64_t> g_bytes_read{0}, g_bytes_written{0};
std::atomic<int> g_dirops_capable{-1}, g_dirops_negotiated{-1};
// Round trips in progress now, and the most seen at once since the last
// reset: shows whether requests overlap (FUSE_PARALLEL_DIROPS at work).
std::atomic<int64_t> g_in_flight{0}, g_max_in_flight{0};
std::mutex g_stats_mu;
uint64_t g_stats_seq = 0;

int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void SleepUntil(int64_t deadline_ns) {
  struct timespec ts = {static_cast<time_t>(deadline_ns / 1'000'000'000),
                        static_cast<long>(deadline_ns % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

void Delay(long ns) {
  if (ns > 0) SleepUntil(NowNs() + ns);
}

// A serial link: transfers queue behind each other at the link rate.
class Link {
 public:
  void Transfer(size_t bytes) {
    if (g_cfg.bw_bytes_per_s <= 0 || bytes == 0) return;
    const int64_t cost = static_cast<int64_t>(static_cast<double>(bytes) * 1e9 / g_cfg.bw_bytes_per_s);
    int64_t done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const int64_t start = std::max(NowNs(), free_at_);
      free_at_ = start + cost;
      done = free_at_;
    }
    SleepUntil(done);
  }

 private:
  std::mutex mu_;
  int64_t free_at_ = 0;
};

Link g_read_link, g_write_link;

void ResetStats() {
  for (auto& c : g_ops) c.store(0);
  for (auto& c : g_extra) c.store(0);
  g_bytes_read.store(0);
  g_bytes_written.store(0);
  g_max_in_flight.store(0);
}

std::string StatsJson() {
  std::string out = "{\n";
  char line[256];
  auto add = [&](const char* fmt, auto... v) {
    std::snprintf(line, sizeof line, fmt, v...);
    out += line;
  };
  add(" \"seq\": %llu,\n \"mode\": \"%s\",\n", static_cast<unsigned long long>(g_stats_seq), g_cfg.mode.c_str());
  const int cap = g_dirops_capable.load(), neg = g_dirops_negotiated.load();
  add(" \"parallel_dirops\": {\"capable\": %s, \"negotiated\": %s},\n", cap < 0 ? "null" : cap ? "true" : "false",
      neg < 0 ? "null" : neg ? "true" : "false");
  add(" \"latency_us\": %ld,\n \"bw_mbps\": %g,\n \"close_to_open\": %s,\n", g_cfg.latency_ns / 1000,
      g_cfg.bw_bytes_per_s / 1e6, g_cfg.close_to_open ? "true" : "false");
  uint64_t total = 0;
  out += " \"requests\": {";
  for (size_t i = 0; i < g_ops.size(); ++i) {
    const uint64_t n = g_ops[i].load();
    add("%s\"%s\": %llu", i ? ", " : "", kOpNames[i], static_cast<unsigned long long>(n));
    // FORGETs carry no reply and no round trip: the kernel drops its
    // references, which an NFS client never tells the server.
    if (i != static_cast<size_t>(Op::kForget) && i != static_cast<size_t>(Op::kBatchForget)) total += n;
  }
  add("},\n \"requests_total\": %llu,\n \"extra_round_trips\": {", static_cast<unsigned long long>(total));
  for (size_t i = 0; i < g_extra.size(); ++i) {
    add("%s\"%s\": %llu", i ? ", " : "", kExtraNames[i], static_cast<unsigned long long>(g_extra[i].load()));
  }
  add("},\n \"max_in_flight\": %lld,", static_cast<long long>(g_max_in_flight.load()));
  add("\n \"bytes_read\": %llu,\n \"bytes_written\": %llu\n}\n",
      static_cast<unsigned long long>(g_bytes_read.load()), static_cast<unsigned long long>(g_bytes_written.load()));
  return out;
}

// SIGUSR1 and SIGUSR2 are blocked in every thread and taken here, so a dump
// never runs inside a request handler.
void SignalThread(sigset_t set) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return;
    if (sig == SIGUSR1) WriteStats();
    if (sig == SIGUSR2) ResetStats();
  }
}

void Usage() {
  std::fprintf(stderr,
               "usage: latencyfs BACKING MOUNTPOINT [--mode lowlevel|highlevel] [--stats FILE]\n"
               "                 [--latency-us N] [--data-latency-us N] [--bw-mbps X]\n"
               "                 [--no-close-to-open] [--threads N] [--no-readdirplus]\n"
               "                 [--attr-timeout S] [--debug]\n");
}

bool ParseOption(const std::string& a, int argc, char** argv, int& i) {
  auto value = [&]() -> const char* {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "latencyfs: %s needs a value\n", a.c_str());
      std::exit(64);
    }
    return argv[++i];
  };
  if (a == "--mode") {
    g_cfg.mode = value();
  } else if (a == "--stats") {
    g_cfg.stats_path = value();
  } else if (a == "--latency-us") {
    g_cfg.latency_ns = std::atol(value()) * 1000;
  } else if (a == "--data-latency-us") {
    g_cfg.data_latency_ns = std::atol(value()) * 1000;
  } else if (a == "--bw-mbps") {
    g_cfg.bw_bytes_per_s = std::atof(value()) * 1e6;
  } else if (a == "--threads") {
    g_cfg.threads = static_cast<unsigned>(std::atoi(value()));
  } else if (a == "--attr-timeout") {
    g_cfg.attr_timeout = std::atof(value());
  } else if (a == "--no-close-to-open") {
    g_cfg.close_to_open = false;
  } else if (a == "--no-readdirplus") {
    g_cfg.readdirplus = false;
  } else if (a == "--debug") {
    g_cfg.debug = true;
  } else {
    if (a != "-h" && a != "--help") std::fprintf(stderr, "latencyfs: unknown option %s\n", a.c_str());
    return false;
  }
  return true;
}

bool ParseArgs(int argc, char** argv) {
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (!a.empty() && a[0] == '-') {
      if (!ParseOption(a, argc, argv, i)) return false;
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() != 2 || g_cfg.threads == 0 || g_cfg.latency_ns < 0) return false;
  if (g_cfg.mode != "lowlevel" && g_cfg.mode != "highlevel") return false;
  g_cfg.backing = pos[0];
  g_cfg.mountpoint = pos[1];
  if (g_cfg.data_latency_ns < 0) g_cfg.data_latency_ns = g_cfg.latency_ns;
  return true;
}

// The low-level front end keeps one O_PATH descriptor per inode the kernel
// holds, so a large tree needs far more than the usual 1024 descriptors.
void RaiseFdLimit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t want = 1 << 20;
  if (rl.rlim_max < want) {
    struct rlimit more = {want, want};
    if (setrlimit(RLIMIT_NOFILE, &more) == 0) return;
  }
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace

void Count(Op op) { g_ops[static_cast<size_t>(op)].fetch_add(1, std::memory_order_relaxed); }
void CountExtra(Extra e) { g_extra[static_cast<size_t>(e)].fetch_add(1, std::memory_order_relaxed); }

void RoundTrip() {
  const int64_t now = g_in_flight.fetch_add(1) + 1;
  int64_t seen = g_max_in_flight.load();
  while (now > seen && !g_max_in_flight.compare_exchange_weak(seen, now)) {
  }
  Delay(g_cfg.latency_ns);
  g_in_flight.fetch_sub(1);
}

void ReadTransfer(size_t bytes) {
  Delay(g_cfg.data_latency_ns);
  g_read_link.Transfer(bytes);
  g_bytes_read.fetch_add(bytes, std::memory_order_relaxed);
}

void WriteTransfer(size_t bytes) {
  Delay(g_cfg.data_latency_ns);
  g_write_link.Transfer(bytes);
  g_bytes_written.fetch_add(bytes, std::memory_order_relaxed);
}

void OpenRevalidate() {
  if (!g_cfg.close_to_open) return;
  CountExtra(Extra::kOpenGetattr);
  RoundTrip();
}

void Commit() {
  if (!g_cfg.close_to_open) return;
  CountExtra(Extra::kCommit);
  RoundTrip();
}

void NoteParallelDirops(bool capable, bool negotiated) {
  g_dirops_capable.store(capable ? 1 : 0);
  g_dirops_negotiated.store(negotiated ? 1 : 0);
}

void WriteStats() {
  if (g_cfg.stats_path.empty()) return;
  std::lock_guard<std::mutex> lock(g_stats_mu);
  ++g_stats_seq;
  // Written aside and renamed, so a reader never sees half a file.
  const std::string tmp = g_cfg.stats_path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return;
  const std::string text = StatsJson();
  std::fwrite(text.data(), 1, text.size(), f);
  if (std::fclose(f) == 0) std::rename(tmp.c_str(), g_cfg.stats_path.c_str());
}

}  // namespace latencyfs

int main(int argc, char** argv) {
  using namespace latencyfs;
  if (!ParseArgs(argc, argv)) {
    Usage();
    return 64;
  }
  struct stat st;
  if (stat(g_cfg.backing.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "latencyfs: %s is not a directory\n", g_cfg.backing.c_str());
    return 1;
  }
  // Sleeps of a few hundred microseconds need a tight timer slack; the
  // FUSE worker threads inherit it.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  // Modes arrive with the caller's umask applied by the kernel already.
  umask(0);
  RaiseFdLimit();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(SignalThread, set).detach();
  const int rc = g_cfg.mode == "lowlevel" ? RunLowLevel() : RunHighLevel();
  WriteStats();
  return rc;
}
