#include "pipeline/undo_manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <sstream>

#include "ha_sync/text.h"

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

Status UndoManifest::Read(int trash_dir_fd, const std::string& file_name, std::vector<UndoRecord>* records) {
  const int fd = ::openat(trash_dir_fd, file_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open undo manifest", file_name);
  std::string data;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
  ::close(fd);
  std::istringstream lines(data);
  std::string line;
  while (std::getline(lines, line)) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) continue;  // a torn last line after a crash
    const json::object& o = v.as_object();
    UndoRecord r;
    const auto* op = o.if_contains("op");
    const auto* path = o.if_contains("path");
    const auto* type = o.if_contains("type");
    if (op == nullptr || !op->is_string() || path == nullptr || !path->is_string() ||
        type == nullptr || !type->is_string() ||
        !ParseOpKind(std::string(op->as_string()), &r.op) ||
        !DecodePathFromText(std::string(path->as_string()), &r.path)) {
      return Status::Error("undo manifest '" + file_name + "' has a malformed line");
    }
    const std::string t(type->as_string());
    r.type = t == "dir" ? io::FileType::kDir : t == "symlink" ? io::FileType::kSymlink : io::FileType::kFile;
    if (const auto* s = o.if_contains("size"); s != nullptr && s->is_int64()) r.size = s->as_int64();
    if (const auto* m = o.if_contains("mtime_ns"); m != nullptr && m->is_int64()) r.mtime_ns = m->as_int64();
    if (const auto* p = o.if_contains("previous"); p != nullptr && p->is_string()) {
      r.previous = std::string(p->as_string());
    }
    records->push_back(std::move(r));
  }
  return Status::Ok();
}

}  // namespace ha_sync::pipeline
