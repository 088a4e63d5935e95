#include "pipeline/copier_factory.h"

#include <sys/stat.h>

#include <algorithm>

#include "io/uring_copier.h"

namespace ha_sync::pipeline {

namespace {

// Large files take turns (uring_copier.h): measured on the media tree
// (perf/README.md, "Large files").
constexpr int64_t kLargeFileBytes = 64 << 20;
constexpr unsigned kLargeFilesAtOnce = 2;
constexpr unsigned kLargeQueueDepth = 8;

bool SameFilesystem(int a_fd, int b_fd) {
  struct stat a, b;
  return ::fstat(a_fd, &a) == 0 && ::fstat(b_fd, &b) == 0 && a.st_dev == b.st_dev;
}

}  // namespace

Result<std::unique_ptr<io::FileCopier>> MakeCopier(const EngineOptions& options, int src_root_fd,
                                                   int dest_root_fd) {
  if (!options.io_uring || options.dry_run) {
    return std::unique_ptr<io::FileCopier>(std::make_unique<io::ThreadCopier>());
  }
  io::UringCopierOptions uo;
  uo.files_in_flight = static_cast<unsigned>(options.workers);
  uo.queue_depth = static_cast<unsigned>(options.queue_depth);
  uo.block_size = options.block_size;
  uo.small_file_bytes = static_cast<int64_t>(options.block_size);
  uo.large_file_bytes = kLargeFileBytes;
  uo.large_files_at_once = kLargeFilesAtOnce;
  uo.large_queue_depth = std::max(static_cast<unsigned>(options.queue_depth), kLargeQueueDepth);
  uo.copy_file_range = options.copy_file_range && SameFilesystem(src_root_fd, dest_root_fd);
  auto copier = io::UringCopier::Create(uo);
  if (!copier.ok()) return copier.status();
  return std::unique_ptr<io::FileCopier>(std::move(*copier));
}

}  // namespace ha_sync::pipeline
