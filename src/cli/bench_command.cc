#include "cli/bench_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <dirent.h>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_probes.h"
#include "bench/bench_report.h"
#include "cli/run.h"
#include "ha_sync/unique_fd.h"
#include "io/file_ops.h"
#include "io/uring_probe.h"
#include "pipeline/planner.h"
#include "pipeline/trash.h"

namespace ha_sync::cli {

namespace {

using bench::Bounds;
using bench::Clock;
using bench::Engine;
using bench::Measurement;

constexpr int64_t kMiB = 1 << 20;
constexpr int64_t kReadBytes = 1024 * kMiB;       // per engine
constexpr int64_t kReadBlockBytes = 256 * kMiB;   // per block size of the sweep
constexpr int64_t kCopyBytes = 512 * kMiB;        // per engine
constexpr int64_t kMd5Bytes = 4096 * kMiB;
// The largest source files are the sample read and copied; many, since on
// trees of small files (photos) the largest may be a few hundred KiB.
constexpr size_t kSampleFiles = 4096;

std::string HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "host";
  std::string h = host;
  std::replace(h.begin(), h.end(), '/', '_');
  return h;
}

// Scratch folders of earlier benches on this host whose process is gone
// (killed before it could clean up) are removed; others are left alone.
void RemoveStaleScratch(int dest_fd, const std::string& own_prefix, std::vector<std::string>* notes) {
  const int fd = ::openat(dest_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return;
  }
  std::vector<std::string> stale;
  while (struct dirent* de = ::readdir(d)) {
    const std::string name = de->d_name;
    if (name.rfind(own_prefix, 0) != 0) continue;
    const std::string pid_text = name.substr(own_prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (::kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(name);
  }
  ::closedir(d);
  for (const std::string& name : stale) {
    Status s = pipeline::RemoveTreeAt(dest_fd, name, name);
    notes->push_back(s.ok() ? "removed '" + name + "', left behind by an interrupted bench"
                            : s.message());
  }
}

class Progress {
 public:
  explicit Progress(double total_weight, double budget) : share_(budget / total_weight) {}
  // Announces a measurement and returns its deadline.
  Clock::time_point Start(const std::string& what, double weight) {
    const double seconds = weight * share_;
    std::fprintf(stderr, "ha-sync: bench: %s (up to %.1f s)\n", what.c_str(), seconds);
    return Clock::now() + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
  }

 private:
  double share_;
};

// The engines to measure: both unless --io-engine names one. Ends the
// bench (exit code in *exit_code) when io_uring was asked for and is not
// usable; when it was only hoped for, says so in the report.
bool ChooseEngines(const Options& o, bench::BenchReport* report, std::vector<Engine>* engines, int* exit_code) {
  if (o.io_engine != "uring") engines->push_back(Engine::kThreads);
  if (o.io_engine == "threads") return true;
  const io::UringSupport uring = io::ProbeUring();
  if (uring.usable) {
    engines->push_back(Engine::kUring);
  } else if (o.io_engine == "uring") {
    std::fprintf(stderr, "ha-sync: --io-engine=uring: %s\n", uring.status.message().c_str());
    *exit_code = kExitFailed;
    return false;
  } else {
    report->notes.push_back("io_uring not measured: " + uring.status.message());
  }
  return true;
}

// One bench over open roots: the measurements in their order, each with
// its share of --bench-seconds, all added to `report`.
class BenchSession {
 public:
  BenchSession(const Options& o, std::vector<Engine> engines, std::atomic<bool>* stop, bench::BenchReport* report)
      : engines_(std::move(engines)),
        stop_(stop),
        report_(report),
        workers_(static_cast<unsigned>(o.workers)),
        listing_(pipeline::ListingShapeFor(workers_, RootsOnNetwork(o))),
        depth_(static_cast<unsigned>(o.queue_depth)),
        block_(static_cast<size_t>(o.block_size)),
        copy_{workers_, depth_, block_, !o.no_copy_file_range, o.fsync},
        meta_levels_{1, 4, 16, 64, o.workers},
        md5_threads_{1, std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()), o.workers)},
        progress_(TotalWeight(), report->budget_seconds) {}

  // Scans: src, then dest, each as a sync's walk lists it (the same for
  // both engines: the walk does not use --io-engine). Returns the read
  // sample: the largest source files found.
  std::vector<bench::SampleFile> Scans(int src_fd, int dest_fd, const std::vector<std::string>& skip) {
    std::vector<bench::SampleFile> sample;
    Add(bench::MeasureScan(src_fd, listing_, Budget("scan src", 3), skip, kSampleFiles, 1, &sample), "src");
    Add(bench::MeasureScan(dest_fd, listing_, Budget("scan dest", 3), skip, 0, 0, nullptr), "dest");
    return sample;
  }

  // Reads of the largest source files, cold (their pages are dropped):
  // each engine, then the preferred one over the block sizes.
  void Reads(int src_fd, const std::vector<bench::SampleFile>& sample) {
    if (!sample.empty()) {
      int64_t total = 0;
      for (const auto& f : sample) total += f.size;
      report_->notes.push_back("read sample: the " + std::to_string(sample.size()) +
                               " largest source files found, " + std::to_string(sample.back().size) + " to " +
                               std::to_string(sample.front().size) + " bytes, " + std::to_string(total) +
                               " bytes in all");
    }
    for (const Engine engine : engines_) {
      if (sample.empty()) {
        Measurement m;
        m.phase = "read";
        m.root = "src";
        m.engine = bench::EngineName(engine);
        m.param = workers_;
        m.error = "no non-empty source file found (in the part scanned)";
        Add(m, "");
        continue;
      }
      Add(bench::MeasureRead(src_fd, sample, engine, workers_, depth_, block_, kReadBytes,
                             Budget(std::string("read src, ") + bench::EngineName(engine), 2)),
          "");
    }
    if (sample.empty()) return;
    const Engine preferred = engines_.back();
    for (const int64_t b : kBlockSizes) {
      Measurement m = bench::MeasureRead(
          src_fd, sample, preferred, workers_, depth_, static_cast<size_t>(b), kReadBlockBytes,
          Budget("read src in blocks of " + std::to_string(b >> 10) + " KiB, " + bench::EngineName(preferred), 1));
      m.phase = "read-block";
      m.param = b;
      Add(m, "");
    }
  }

  // Copies of the sample and metadata round trips in the scratch folder
  // `scratch` under dest; the dest root's times are put back afterwards.
  void CopiesAndMetadata(int src_fd, int dest_fd, const std::vector<bench::SampleFile>& sample,
                         const std::string& scratch, const std::string& scratch_prefix) {
    struct stat dest_before;
    const bool have_times = ::fstat(dest_fd, &dest_before) == 0;
    RemoveStaleScratch(dest_fd, scratch_prefix, &report_->notes);
    Status made = io::MakeDir(dest_fd, scratch, scratch);
    int scratch_fd = -1;
    if (made.ok()) {
      auto fd = io::OpenChildDir(dest_fd, scratch, scratch);
      if (fd.ok()) scratch_fd = *fd;
      else made = fd.status();
    }
    for (const Engine engine : engines_) {
      if (scratch_fd < 0) {
        AddUnwritable("copy", bench::EngineName(engine), workers_, made);
        continue;
      }
      Add(bench::MeasureCopy(src_fd, sample, scratch_fd, engine, copy_,
                             kCopyBytes, Budget(std::string("copy to dest, ") + bench::EngineName(engine), 2)),
          "");
    }
    for (const int64_t level : meta_levels_) {
      if (scratch_fd < 0) {
        AddUnwritable("metadata", "threads", level, made);
        continue;
      }
      Add(bench::MeasureMetadata(scratch_fd, static_cast<unsigned>(level),
                                 Budget("create/remove in dest, " + std::to_string(level) + " in flight", 1)),
          "");
    }
    if (scratch_fd >= 0) {
      ::close(scratch_fd);
      if (Status s = pipeline::RemoveTreeAt(dest_fd, scratch, scratch); !s.ok()) {
        report_->notes.push_back("could not remove the scratch folder: " + s.message());
      }
    }
    if (have_times) {
      const struct timespec times[2] = {dest_before.st_atim, dest_before.st_mtim};
      ::futimens(dest_fd, times);
    }
  }

  void Md5s() {
    for (const int64_t threads : md5_threads_) {
      Add(bench::MeasureMd5(static_cast<unsigned>(threads), block_, kMd5Bytes,
                            Budget("md5, " + std::to_string(threads) + " thread(s)", 0.5)),
          "");
    }
  }

 private:
  static constexpr int64_t kBlockSizes[] = {256 << 10, 1 << 20, 4 << 20};

  // The weights passed to Budget() below, summed: each measurement gets its
  // weight's share of the budget.
  double TotalWeight() const {
    const double e = static_cast<double>(engines_.size());
    return 6 + 2 * e + static_cast<double>(std::size(kBlockSizes)) + 2 * e +
           static_cast<double>(meta_levels_.size()) + 0.5 * static_cast<double>(md5_threads_.size());
  }
  Bounds Budget(const std::string& what, double weight) { return Bounds{progress_.Start(what, weight), stop_}; }
  void Add(Measurement m, const std::string& root) {
    if (!root.empty()) m.root = root;
    report_->rows.push_back(std::move(m));
  }
  void AddUnwritable(const char* phase, const std::string& engine, int64_t param, const Status& why) {
    Measurement m;
    m.phase = phase;
    m.root = "dest";
    m.engine = engine;
    m.param = param;
    m.error = "cannot write under dest: " + why.message();
    Add(m, "");
  }

  const std::vector<Engine> engines_;
  std::atomic<bool>* const stop_;
  bench::BenchReport* const report_;
  const unsigned workers_;
  const pipeline::ListingShape listing_;  // the walk's, for these roots
  const unsigned depth_;
  const size_t block_;
  const bench::CopySettings copy_;  // the flags a sync copies with
  const std::set<int64_t> meta_levels_;
  const std::set<int64_t> md5_threads_;
  Progress progress_;
};

// The table (or JSON on stdout), and the JSON file of --bench-json; false
// when that file could not be written (message printed).
bool WriteReport(const Options& o, const bench::BenchReport& report) {
  const std::string json = bench::FormatJson(report);
  if (o.bench_json == "-") {
    std::fputs(json.c_str(), stdout);
    return true;
  }
  std::fputs(bench::FormatTable(report).c_str(), stdout);
  if (o.bench_json.empty()) return true;
  FILE* f = std::fopen(o.bench_json.c_str(), "w");
  bool written = f != nullptr && std::fputs(json.c_str(), f) >= 0;
  const int err = errno;
  if (f != nullptr && std::fclose(f) != 0) written = false;
  if (!written) {
    std::fprintf(stderr, "ha-sync: %s\n",
                 Status::FromErrno(err != 0 ? err : errno, "write", o.bench_json).message().c_str());
  }
  return written;
}

}  // namespace

int RunBench(const Options& flags, std::atomic<bool>* stop) {
  const Clock::time_point began = Clock::now();
  // Measured at the concurrency a sync of these roots would use.
  Options o = flags;
  o.workers = EffectiveWorkers(flags);
  bench::BenchReport report;
  report.version = HA_SYNC_VERSION;
  report.src = o.src;
  report.dest = o.dest;
  report.budget_seconds = static_cast<double>(o.bench_seconds);
  report.workers = o.workers;
  report.queue_depth = o.queue_depth;
  report.block_size = o.block_size;

  std::vector<Engine> engines;
  if (int exit_code = kExitOk; !ChooseEngines(o, &report, &engines, &exit_code)) return exit_code;
  auto src = io::OpenRoot(o.src);
  if (!src.ok()) {
    std::fprintf(stderr, "ha-sync: %s\n", src.status().message().c_str());
    return kExitFailed;
  }
  const UniqueFd src_fd(*src);
  auto dest = io::OpenRoot(o.dest);
  if (!dest.ok()) {
    std::fprintf(stderr, "ha-sync: %s\n", dest.status().message().c_str());
    return kExitFailed;
  }
  const UniqueFd dest_fd(*dest);

  const std::string scratch_prefix = pipeline::kBenchScratchPrefix + HostName() + "-";
  const std::string scratch = scratch_prefix + std::to_string(::getpid());
  BenchSession session(o, std::move(engines), stop, &report);
  const std::vector<bench::SampleFile> sample = session.Scans(src_fd.get(), dest_fd.get(), {".ha-sync-trash", scratch});
  session.Reads(src_fd.get(), sample);
  session.CopiesAndMetadata(src_fd.get(), dest_fd.get(), sample, scratch, scratch_prefix);
  session.Md5s();

  report.elapsed_seconds = std::chrono::duration<double>(Clock::now() - began).count();
  report.recommendation = bench::Recommend(report.rows);
  if (!WriteReport(o, report)) return kExitFailed;
  if (stop->load()) {
    std::fprintf(stderr, "ha-sync: bench interrupted; the figures cover the time before\n");
    return kExitFailed;
  }
  const bool any_error = std::any_of(report.rows.begin(), report.rows.end(),
                                     [](const Measurement& m) { return !m.error.empty(); });
  return any_error ? kExitPartial : kExitOk;
}

}  // namespace ha_sync::cli
