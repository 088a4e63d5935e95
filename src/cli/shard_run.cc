#include "cli/shard_run.h"

#include "pipeline/shard.h"
#include "pipeline/sync_state.h"
#include "pipeline/temp_tags.h"

namespace ha_sync::cli {

namespace {

pipeline::ShardSpec Spec(const Options& o) { return {o.shard_index, o.shard_count}; }

}  // namespace

void ApplyShard(const Options& options, pipeline::EngineOptions* eo) {
  const pipeline::ShardSpec shard = Spec(options);
  eo->shard = shard;
  eo->state_path = pipeline::ShardStatePath(options.log_dir, options.pair, shard);
  eo->other_layout_state_paths = pipeline::OtherLayoutStatePaths(options.log_dir, options.pair, shard);
  if (!shard.sharded()) return;
  eo->state_fallback_path = pipeline::StatePath(options.log_dir, options.pair);
  eo->guard_state_paths = pipeline::ShardStatePaths(options.log_dir, options.pair, shard.count);
  eo->expire_trash = shard.index == 0;
  if (eo->max_delete_count) *eo->max_delete_count = pipeline::ShardDeleteBudget(*eo->max_delete_count, shard);
}

void ApplyShard(const Options& options, RunHeader* header) {
  if (options.shard_count <= 1) return;
  header->run_group = options.run_group;
  header->shard_index = options.shard_index;
  header->shard_count = options.shard_count;
}

std::string TempTagsPathFor(const Options& options) {
  return pipeline::ShardTempTagsPath(options.log_dir, options.pair, Spec(options));
}

std::vector<std::string> TempTagsReadable(const Options& options) {
  std::vector<std::string> paths{TempTagsPathFor(options)};
  if (options.shard_count > 1) paths.push_back(pipeline::TempTagsPath(options.log_dir, options.pair));
  return paths;
}

}  // namespace ha_sync::cli
