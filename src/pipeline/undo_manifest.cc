#include "pipeline/undo_manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <string_view>
#include <utility>

#include "ha_sync/join_rel.h"
#include "ha_sync/text.h"
#include "io/file_ops.h"

namespace ha_sync::pipeline {
namespace json = boost::json;

namespace {
const char* TypeName(io::FileType t) {
  switch (t) {
    case io::FileType::kDir: return "dir";
    case io::FileType::kSymlink: return "symlink";
    default: return "file";
  }
}
}  // namespace

Status UndoManifest::OpenLocked() {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "create undo manifest folder", dir_);
  }
  const std::string path = dir_ + "/" + FileName(run_dir_name_);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) return Status::FromErrno(errno, "create undo manifest", path);
  if (dest_root_.empty()) return Status::Ok();
  json::object o;
  o["dest"] = EncodePathForText(dest_root_);
  const std::string line = json::serialize(o) + "\n";
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    // Never records without the dest line (undo would take it for an old
    // manifest and skip its --dest check): no manifest instead.
    const Status s = Status::FromErrno(errno != 0 ? errno : EIO, "write", path);
    ::close(fd_);
    fd_ = -1;
    ::unlink(path.c_str());
    return s;
  }
  return Status::Ok();
}

UndoManifest::~UndoManifest() {
  if (fd_ >= 0) ::close(fd_);
}

Status UndoManifest::Append(const UndoRecord& r) {
  json::object o;
  o["op"] = ToString(r.op);
  o["path"] = EncodePathForText(r.path);
  o["type"] = TypeName(r.type);
  o["size"] = r.size;
  o["mtime_ns"] = r.mtime_ns;
  if (r.previous) {
    o["previous"] = *r.previous;
  } else {
    o["previous"] = nullptr;
  }
  std::string line = json::serialize(o) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ < 0) {
    Status s = OpenLocked();
    if (!s.ok()) return s;
  }
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return Status::FromErrno(errno, "write", "undo manifest");
  }
  return Status::Ok();
}

bool ParsePreviousMtime(const std::string& previous, int64_t* mtime_ns) {
  constexpr std::string_view kPrefix = "mtime:";
  if (previous.compare(0, kPrefix.size(), kPrefix) != 0 || previous.size() == kPrefix.size()) return false;
  const char* end = previous.data() + previous.size();
  const auto [ptr, ec] = std::from_chars(previous.data() + kPrefix.size(), end, *mtime_ns);
  return ec == std::errc() && ptr == end;
}

bool ParsePreviousConflict(const std::string& previous, std::string* copy_path) {
  constexpr std::string_view kPrefix = "conflict:";
  if (previous.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  *copy_path = previous.substr(kPrefix.size());
  return true;
}

namespace {

std::string ParentOf(const std::string& rel) {
  std::string dir, name;
  SplitRel(rel, &dir, &name);
  return dir;
}

// Why a record read from a manifest must not be acted on, or "" when it may.
// Its paths are used under the dest root: only plain relative ones are
// (the root itself, ".", only as the directory whose mtime goes back).
std::string WhyUnusable(const UndoRecord& r) {
  const std::string prev = r.previous.value_or("");
  int64_t ns = 0;
  std::string copy;
  const bool conflict = ParsePreviousConflict(prev, &copy);
  if (r.previous && prev != "trash" && !conflict && !ParsePreviousMtime(prev, &ns)) {
    return "\"previous\" is neither null, \"trash\", \"conflict:<path>\" nor \"mtime:<ns>\"";
  }
  const bool root_time = r.path == "." && r.op == OpKind::kUpdate && r.type == io::FileType::kDir &&
                         prev.rfind("mtime:", 0) == 0;
  if (!root_time && !io::IsPlainRelativePath(r.path)) {
    return "path '" + EscapeForDisplay(r.path) +
           "' is not a plain relative path (absolute, or an empty, '.' or '..' component, or a NUL byte)";
  }
  if (conflict) {
    if (!io::IsPlainRelativePath(copy)) {
      return "conflict copy '" + EscapeForDisplay(copy) + "' is not a plain relative path";
    }
    // A conflict copy is made beside its file (file_executor.cc).
    if (ParentOf(copy) != ParentOf(r.path)) {
      return "conflict copy '" + EscapeForDisplay(copy) + "' is not beside '" + EscapeForDisplay(r.path) + "'";
    }
  }
  return "";
}

// Fills `r` from one parsed line; "" or why the line is unusable.
std::string FromJson(const json::object& o, UndoRecord* r) {
  const auto* op = o.if_contains("op");
  const auto* path = o.if_contains("path");
  const auto* type = o.if_contains("type");
  if (op == nullptr || !op->is_string() || !ParseOpKind(std::string(op->as_string()), &r->op)) {
    return "no valid \"op\"";
  }
  if (path == nullptr || !path->is_string() || !DecodePathFromText(std::string(path->as_string()), &r->path)) {
    return "no valid \"path\"";
  }
  const std::string t = type != nullptr && type->is_string() ? std::string(type->as_string()) : "";
  if (t == "file") r->type = io::FileType::kFile;
  else if (t == "dir") r->type = io::FileType::kDir;
  else if (t == "symlink") r->type = io::FileType::kSymlink;
  else return "\"type\" is not file, dir or symlink";
  for (const auto& [key, out] : {std::pair{"size", &r->size}, std::pair{"mtime_ns", &r->mtime_ns}}) {
    const auto* v = o.if_contains(key);
    if (v == nullptr) continue;
    if (!v->is_int64()) return std::string("\"") + key + "\" is not an integer";
    *out = v->as_int64();
  }
  if (const auto* p = o.if_contains("previous"); p != nullptr && !p->is_null()) {
    if (!p->is_string()) return "\"previous\" is not a string";
    r->previous = std::string(p->as_string());
  }
  return WhyUnusable(*r);
}

}  // namespace

Status UndoManifest::Read(int dir_fd, const std::string& dir_display, const std::string& file_name,
                          std::vector<UndoRecord>* records, std::string* dest_root) {
  if (dest_root != nullptr) dest_root->clear();
  const std::string shown = dir_display + "/" + file_name;
  const int fd = ::openat(dir_fd, file_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open undo manifest", shown);
  std::string data;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
  const int read_err = errno;
  ::close(fd);
  if (n < 0) return Status::FromErrno(read_err, "read undo manifest", shown);
  size_t pos = 0;
  for (int64_t line_no = 1; pos < data.size(); ++line_no) {
    const size_t nl = data.find('\n', pos);
    const bool complete = nl != std::string::npos;
    const std::string line = data.substr(pos, complete ? nl - pos : std::string::npos);
    pos = complete ? nl + 1 : data.size();
    auto refuse = [&](const std::string& why) {
      return Status::Error("undo manifest '" + EscapeForDisplay(shown) + "' line " + std::to_string(line_no) +
                           ": " + why + "; nothing was undone");
    };
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) {
      // Each record is one write ending in '\n': only the last line, cut
      // short by a crash, may be torn. Anything else is damage.
      if (!complete) break;
      return refuse("not a JSON object");
    }
    const json::object& o = v.as_object();
    if (line_no == 1 && o.size() == 1 && o.contains("dest")) {
      std::string root;
      if (!o.at("dest").is_string() || !DecodePathFromText(std::string(o.at("dest").as_string()), &root) ||
          root.empty() || root[0] != '/') {
        return refuse("no valid \"dest\"");
      }
      if (dest_root != nullptr) *dest_root = std::move(root);
      continue;
    }
    UndoRecord r;
    if (std::string why = FromJson(o, &r); !why.empty()) return refuse(why);
    records->push_back(std::move(r));
  }
  return Status::Ok();
}

}  // namespace ha_sync::pipeline
