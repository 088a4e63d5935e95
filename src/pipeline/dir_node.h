// One directory being synced (walker.h makes them; file_executor.h works
// in them). It stays alive while its subdirectories and file operations
// are pending; the last one out applies the source directory's mode and
// times to dest (after the contents, as required) and, when the run changed
// the directory, remembers its old mtime in the undo manifest.
//
// Thread-safety: the fields are set by the walk thread before the node is
// shared and only read after that, except `changed` (atomic, set by any
// thread that changed the directory) and `deletes_here` (walk thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "ha_sync/status.h"
#include "io/dir_entry.h"
#include "io/unique_fd.h"

namespace ha_sync::pipeline {

class RunContext;


struct DirNode {
  explicit DirNode(RunContext* ctx) : ctx(ctx) {}
  DirNode(const DirNode&) = delete;
  DirNode& operator=(const DirNode&) = delete;
  ~DirNode();

  // A subdirectory's fds, owned by the node (the roots' are the engine's).
  void Adopt(io::UniqueFd src, io::UniqueFd dest);

  RunContext* const ctx;
  std::shared_ptr<DirNode> parent;
  std::string rel;
  int src_fd = -1;
  int dest_fd = -1;  // -1: dest has no such directory (dry-run, or not created)
  io::Entry src_attrs;
  bool is_root = false;
  bool created = false;
  std::atomic<bool> changed{false};
  bool deletes_here = false;          // deletes were spooled for entries in it
  int64_t dest_mtime_before_ns = -1;  // dest's mtime when listed (-1: unknown)

 private:
  io::UniqueFd owned_src_, owned_dest_;
};
using NodePtr = std::shared_ptr<DirNode>;

}  // namespace ha_sync::pipeline
