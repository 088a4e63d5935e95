#include "pipeline/shard.h"

#include <dirent.h>

#include <algorithm>
#include <unordered_map>

#include "ha_sync/text.h"
#include "pipeline/temp_tags.h"

namespace ha_sync::pipeline {

namespace {

bool ParseInt(const std::string& s, int max, int* out) {
  if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  const int v = std::stoi(s);
  if (v > max) return false;
  *out = v;
  return true;
}

}  // namespace

std::string ShardSpec::Suffix() const { return std::to_string(index) + "-of-" + std::to_string(count); }

uint64_t Fnv1a64(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

int ShardOfDir(const std::string& name, int count) {
  return count <= 1 ? 0 : static_cast<int>(Fnv1a64(name) % static_cast<uint64_t>(count));
}

std::string ParseShardSpec(const std::string& text, ShardSpec* out) {
  const size_t slash = text.find('/');
  ShardSpec s;
  if (slash == std::string::npos || !ParseInt(text.substr(0, slash), kMaxShards - 1, &s.index) ||
      !ParseInt(text.substr(slash + 1), kMaxShards, &s.count) || s.count < 1 || s.index >= s.count) {
    return "--shard must be I/N with 0 <= I < N <= " + std::to_string(kMaxShards) + ", got '" +
           EscapeForDisplay(text) + "'";
  }
  *out = s;
  return "";
}

void FilterRootForShard(const ShardSpec& shard, std::vector<io::Entry>* src,
                        std::vector<io::Entry>* dest, std::vector<StateEntry>* state) {
  if (!shard.sharded()) return;
  // The type that decides ownership: src's, else dest's, else the state's.
  std::unordered_map<std::string, bool> is_dir;
  if (state != nullptr) {
    for (const StateEntry& e : *state) is_dir[e.name] = e.type == io::FileType::kDir;
  }
  for (const io::Entry& e : *dest) is_dir[e.name] = e.type == io::FileType::kDir;
  for (const io::Entry& e : *src) is_dir[e.name] = e.type == io::FileType::kDir;
  auto foreign = [&](const std::string& name) {
    const int owner = is_dir[name] ? ShardOfDir(name, shard.count) : 0;
    return owner != shard.index;
  };
  src->erase(std::remove_if(src->begin(), src->end(), [&](const io::Entry& e) { return foreign(e.name); }),
             src->end());
  dest->erase(std::remove_if(dest->begin(), dest->end(), [&](const io::Entry& e) { return foreign(e.name); }),
              dest->end());
  if (state != nullptr) {
    state->erase(std::remove_if(state->begin(), state->end(),
                                [&](const StateEntry& e) { return foreign(e.name); }),
                 state->end());
  }
}

std::string ShardStatePath(const std::string& log_dir, const std::string& pair, const ShardSpec& shard) {
  if (!shard.sharded()) return StatePath(log_dir, pair);
  return log_dir + "/state-" + pair + ".shard-" + shard.Suffix() + ".hss";
}

std::string ShardTempTagsPath(const std::string& log_dir, const std::string& pair,
                              const ShardSpec& shard) {
  if (!shard.sharded()) return TempTagsPath(log_dir, pair);
  return TempTagsPath(log_dir, pair) + ".shard-" + shard.Suffix();
}

std::vector<std::string> ShardStatePaths(const std::string& log_dir, const std::string& pair, int count) {
  std::vector<std::string> paths;
  for (int i = 0; i < count; ++i) paths.push_back(ShardStatePath(log_dir, pair, {i, count}));
  return paths;
}

namespace {

// "<i>-of-<n>" (ShardSpec::Suffix) with 0 <= i < n <= kMaxShards; n in *count.
bool ParseShardSuffix(const std::string& text, int* count) {
  const size_t of = text.find("-of-");
  if (of == std::string::npos) return false;
  int index = 0;
  return ParseInt(text.substr(0, of), kMaxShards, &index) && ParseInt(text.substr(of + 4), kMaxShards, count) &&
         index < *count;
}

}  // namespace

std::vector<std::string> OtherLayoutStatePaths(const std::string& log_dir, const std::string& pair,
                                               const ShardSpec& shard) {
  std::vector<std::string> found;
  DIR* dir = ::opendir(log_dir.c_str());
  if (dir == nullptr) return found;
  const std::string prefix = "state-" + pair + ".shard-";
  const std::string suffix = ".hss";
  while (const struct dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (shard.sharded() && name == "state-" + pair + ".hss") {
      found.push_back(log_dir + "/" + name);
      continue;
    }
    if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    int count = 0;
    const std::string middle = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (ParseShardSuffix(middle, &count) && count != (shard.sharded() ? shard.count : 1)) {
      found.push_back(log_dir + "/" + name);
    }
  }
  ::closedir(dir);
  std::sort(found.begin(), found.end());
  return found;
}

int64_t ShardDeleteBudget(int64_t group_budget, const ShardSpec& shard) {
  if (!shard.sharded()) return group_budget;
  const int64_t n = shard.count;
  return group_budget / n + (shard.index < group_budget % n ? 1 : 0);
}

}  // namespace ha_sync::pipeline
