#include "pipeline/clock_probe.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>

namespace ha_sync::pipeline {

namespace {
int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}
}  // namespace

Result<ClockReading> ProbeClock(int root_fd, const std::string& run_id, const std::string& display) {
  const std::string name = ".ha-sync-probe-" + run_id;
  const std::string shown = display + "/" + name;
  // Creating and removing the probe changes the root's times: put them back.
  struct stat root_before;
  const bool have_root_times = ::fstat(root_fd, &root_before) == 0;
  const int64_t before = WallNs();
  const int fd = ::openat(root_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create clock probe", shown);
  Status status;
  ClockReading reading;
  struct stat st;
  // No fsync: a stat of a written file makes the NFS client send the write
  // first, so the mtime it returns is the server's; locally it is the
  // kernel's clock, set by the write itself.
  if (::write(fd, "p", 1) != 1 || ::fstat(fd, &st) != 0) {
    status = Status::FromErrno(errno, "write clock probe", shown);
  } else {
    const int64_t after = WallNs();
    reading.offset_ns = MtimeNs(st) - (before + (after - before) / 2);
    // Set a time with every decimal digit non-zero and see which survive.
    constexpr int64_t kProbeNs = 123456789;
    const struct timespec times[2] = {{1600000000, kProbeNs}, {1600000000, kProbeNs}};
    if (::futimens(fd, times) != 0 || ::fstat(fd, &st) != 0) {
      status = Status::FromErrno(errno, "set clock probe time", shown);
    } else {
      const int64_t kept = st.st_mtim.tv_nsec;
      // The smallest unit at which what was kept agrees with what was set.
      reading.precision_ns = 1;
      {
        while (reading.precision_ns < 1000000000 && kProbeNs / reading.precision_ns != kept / reading.precision_ns) {
          reading.precision_ns *= 10;
        }
      }
    }
  }
  ::close(fd);
  ::unlinkat(root_fd, name.c_str(), 0);
  if (have_root_times) {
    const struct timespec times[2] = {root_before.st_atim, root_before.st_mtim};
    ::futimens(root_fd, times);
  }
  if (!status.ok()) return status;
  return reading;
}

int64_t ClockWindowNs(int64_t threshold_ns, const ClockReading& src, const ClockReading& dest) {
  const int64_t skew = src.offset_ns > dest.offset_ns ? src.offset_ns - dest.offset_ns
                                                      : dest.offset_ns - src.offset_ns;
  return std::max({threshold_ns, src.precision_ns, dest.precision_ns, skew});
}

ClockStep ProbeDestClock(int dest_root_fd, const std::string& run_id, const std::string& dest_root,
                         int64_t threshold_ns, int64_t warn_skew_ns) {
  ClockStep step;
  step.window_ns = threshold_ns;
  auto dest = ProbeClock(dest_root_fd, run_id, dest_root);
  if (!dest.ok()) {
    step.warning =
        "clock probe skipped (" + dest.status().message() + "); using --mtime-threshold as is";
    return step;
  }
  const ClockReading node;  // this node's own clock: offset 0, exact
  step.window_ns = ClockWindowNs(threshold_ns, node, *dest);
  const int64_t skew = dest->offset_ns < 0 ? -dest->offset_ns : dest->offset_ns;
  step.skew_ns = skew;
  step.precision_ns = dest->precision_ns;
  if (skew > warn_skew_ns) {
    char buf[240];
    std::snprintf(buf, sizeof buf,
                  "dest's mtime clock differs from this node's by %.3f s (more than %.3f s); "
                  "the mtime window is widened to %.3f s",
                  static_cast<double>(skew) / 1e9, static_cast<double>(warn_skew_ns) / 1e9,
                  static_cast<double>(step.window_ns) / 1e9);
    step.warning = buf;
  }
  return step;
}

}  // namespace ha_sync::pipeline
