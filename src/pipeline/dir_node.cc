#include "pipeline/dir_node.h"

#include <sys/stat.h>

#include <cerrno>

#include "io/file_ops.h"
#include "pipeline/run_context.h"

namespace ha_sync::pipeline {

void DirNode::Adopt(io::UniqueFd src, io::UniqueFd dest) {
  owned_src_ = std::move(src);
  owned_dest_ = std::move(dest);
  src_fd = owned_src_.get();
  dest_fd = owned_dest_.get();
}

DirNode::~DirNode() {
  const bool dry_run = ctx->opt.dry_run;
  if (!dry_run && dest_fd >= 0 && (created || changed.load())) {
    const std::string display = rel.empty() ? "." : rel + "/";
    // A root gets src's times only; its mode and owner are left as they are.
    const Status s = is_root ? io::SetTimes(dest_fd, ".", src_attrs.atime_ns, src_attrs.mtime_ns, display)
                             : io::ApplyAttributes(dest_fd, src_attrs, display);
    if (!s.ok()) ctx->Warn("directory attributes not applied: " + s.message());
  }
  if (!dry_run && !created && dest_mtime_before_ns >= 0 && (changed.load() || deletes_here)) {
    // So that `ha-sync undo` can put the directory's time back too.
    ctx->Remember(OpKind::kUpdate, rel.empty() ? "." : rel, io::FileType::kDir, 0,
                  src_attrs.mtime_ns, "mtime:" + std::to_string(dest_mtime_before_ns));
  }
}

}  // namespace ha_sync::pipeline
