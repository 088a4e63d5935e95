#include "pipeline/plan_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <functional>

#include "ha_sync/text.h"
#include "ha_sync/utc_time.h"
#include "io/unique_fd.h"

namespace ha_sync::pipeline {
namespace json = boost::json;

namespace {

constexpr int kPlanFormat = 1;
constexpr char kSuffix[] = ".plan.jsonl";

const char* TypeName(io::FileType t) {
  switch (t) {
    case io::FileType::kFile: return "file";
    case io::FileType::kDir: return "dir";
    case io::FileType::kSymlink: return "symlink";
    case io::FileType::kOther: return "other";
  }
  return "other";
}

bool ParseType(std::string_view s, io::FileType* t) {
  if (s == "file") *t = io::FileType::kFile;
  else if (s == "dir") *t = io::FileType::kDir;
  else if (s == "symlink") *t = io::FileType::kSymlink;
  else if (s == "other") *t = io::FileType::kOther;
  else return false;
  return true;
}

json::value SideJson(const std::optional<PlanSide>& side) {
  if (!side) return nullptr;
  json::object o;
  o["type"] = TypeName(side->type);
  o["size"] = side->size;
  o["mtime_ns"] = side->mtime_ns;
  if (side->type == io::FileType::kSymlink) o["target"] = EncodePathForText(side->link_target);
  return o;
}

bool GetStr(const json::object& o, const char* key, std::string* out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return false;
  *out = std::string(v->as_string());
  return true;
}

bool GetI64(const json::object& o, const char* key, int64_t* out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_int64()) return false;
  *out = v->as_int64();
  return true;
}

bool ParseSide(const json::object& o, const char* key, std::optional<PlanSide>* out) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return false;
  if (v->is_null()) {
    out->reset();
    return true;
  }
  if (!v->is_object()) return false;
  const json::object& s = v->as_object();
  PlanSide side;
  std::string type, target;
  if (!GetStr(s, "type", &type) || !ParseType(type, &side.type) || !GetI64(s, "size", &side.size) ||
      !GetI64(s, "mtime_ns", &side.mtime_ns)) {
    return false;
  }
  if (side.type == io::FileType::kSymlink &&
      (!GetStr(s, "target", &target) || !DecodePathFromText(target, &side.link_target))) {
    return false;
  }
  *out = std::move(side);
  return true;
}

std::optional<json::object> ParseObject(const std::string& line) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno(n < 0 ? errno : EIO, "write plan file", path);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

PlanSide PlanSide::Of(const io::Entry& e) {
  PlanSide s;
  s.type = e.type;
  s.size = e.type == io::FileType::kDir ? 0 : e.size;
  s.mtime_ns = e.mtime_ns;
  if (e.type == io::FileType::kSymlink) s.link_target = e.link_target;
  return s;
}

std::string PlanDir(const std::string& log_dir, const std::string& pair) {
  return log_dir + "/plans-" + pair;
}

std::string PlanFilePath(const std::string& log_dir, const std::string& pair,
                         const std::string& run_id) {
  return PlanDir(log_dir, pair) + "/" + run_id + kSuffix;
}

std::string FormatPlanHeader(const PlanHeader& h) {
  json::object o;
  o["type"] = "plan";
  o["format"] = kPlanFormat;
  o["run_id"] = h.run_id;
  o["pair"] = h.pair;
  o["direction"] = h.direction;
  o["src"] = EncodePathForText(h.src);
  o["dest"] = EncodePathForText(h.dest);
  o["delete_missing"] = h.delete_missing;
  o["created_at_ms"] = h.created_at_ms;
  return json::serialize(o);
}

std::string FormatPlanOp(const PlanOp& op) {
  json::object o;
  o["op"] = ToString(op.op);
  o["path"] = EncodePathForText(op.path);
  o["src"] = SideJson(op.src);
  o["dest"] = SideJson(op.dest);
  return json::serialize(o);
}

bool ParsePlanHeader(const std::string& line, PlanHeader* h) {
  auto o = ParseObject(line);
  if (!o) return false;
  std::string type, src, dest;
  int64_t format = 0;
  const json::value* dm = o->if_contains("delete_missing");
  if (!GetStr(*o, "type", &type) || type != "plan" || !GetI64(*o, "format", &format) ||
      format != kPlanFormat || !GetStr(*o, "run_id", &h->run_id) || !GetStr(*o, "pair", &h->pair) ||
      !GetStr(*o, "direction", &h->direction) || !GetStr(*o, "src", &src) ||
      !GetStr(*o, "dest", &dest) || !DecodePathFromText(src, &h->src) ||
      !DecodePathFromText(dest, &h->dest) || dm == nullptr || !dm->is_bool() ||
      !GetI64(*o, "created_at_ms", &h->created_at_ms)) {
    return false;
  }
  h->delete_missing = dm->as_bool();
  return true;
}

bool ParsePlanOp(const std::string& line, PlanOp* op) {
  auto o = ParseObject(line);
  if (!o) return false;
  std::string kind, path;
  return GetStr(*o, "op", &kind) && ParseOpKind(kind, &op->op) && GetStr(*o, "path", &path) &&
         DecodePathFromText(path, &op->path) && ParseSide(*o, "src", &op->src) &&
         ParseSide(*o, "dest", &op->dest);
}

Status ReadPlanFile(const std::string& path, PlanHeader* header,
                    const std::function<void(PlanOp op, const std::string& line)>& each) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) return Status::FromErrno(errno, "open plan file", path);
  std::string line;
  char buf[65536];
  bool have_header = false;
  int64_t line_no = 0;
  Status bad;
  while (bad.ok() && std::fgets(buf, sizeof buf, f) != nullptr) {
    line += buf;
    if (line.empty() || line.back() != '\n') continue;  // a longer line: read on
    line.pop_back();
    ++line_no;
    PlanOp op;
    if (!have_header) {
      have_header = ParsePlanHeader(line, header);
      if (!have_header) bad = Status::Error("plan file " + path + " has no valid header");
    } else if (ParsePlanOp(line, &op)) {
      each(std::move(op), line);
    } else {
      bad = Status::Error("plan file " + path + ": malformed line " + std::to_string(line_no));
    }
    line.clear();
  }
  std::fclose(f);
  if (!bad.ok()) return bad;
  // Committed files end with a newline: anything left is a torn file.
  if (!line.empty() || !have_header) return Status::Error("plan file " + path + " is incomplete");
  return Status::Ok();
}

Result<std::shared_ptr<const Plan>> Plan::Load(const std::string& path) {
  auto plan = std::make_shared<Plan>();
  Status s = ReadPlanFile(path, &plan->header_, [&](PlanOp op, const std::string&) {
    std::pair<std::string, int> key(op.path, static_cast<int>(op.op));
    plan->ops_.emplace(std::move(key), std::move(op));
  });
  if (!s.ok()) return s;
  return std::shared_ptr<const Plan>(std::move(plan));
}

const PlanOp* Plan::Find(const std::string& path, OpKind op) const {
  auto it = ops_.find({path, static_cast<int>(op)});
  return it == ops_.end() ? nullptr : &it->second;
}

Result<std::unique_ptr<PlanWriter>> PlanWriter::Create(const std::string& path,
                                                       const PlanHeader& header) {
  const std::string dir = path.substr(0, path.rfind('/'));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "create plan folder", dir);
  }
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create plan file", tmp);
  std::unique_ptr<PlanWriter> w(new PlanWriter(path, fd));
  if (Status s = WriteAll(fd, FormatPlanHeader(header) + "\n", tmp); !s.ok()) return s;
  return w;
}

PlanWriter::~PlanWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink((path_ + ".tmp").c_str());
}

Status PlanWriter::Append(const PlanOp& op) {
  const std::string line = FormatPlanOp(op) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_.ok()) return error_;
  error_ = WriteAll(fd_, line, path_ + ".tmp");
  return error_;
}

Status PlanWriter::Commit() { return CommitAs(path_); }

Status PlanWriter::CommitAs(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_.ok()) return error_;
  const std::string tmp = path_ + ".tmp";
  if (::fsync(fd_) != 0) return Status::FromErrno(errno, "fsync plan file", tmp);
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(errno, "rename plan file", path);
  committed_ = true;
  const std::string dir = path.substr(0, path.rfind('/'));
  io::UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() >= 0) ::fsync(d.get());
  return Status::Ok();
}

std::string PlanApprovalPath(const std::string& plan_file_path) {
  const std::string suffix = kSuffix;
  std::string base = plan_file_path;
  if (base.size() > suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0) {
    base.resize(base.size() - suffix.size());
  }
  return base + ".approved";
}

Status WritePlanApproval(const std::string& plan_file_path, const std::string& by, int64_t now_ms) {
  const std::string path = PlanApprovalPath(plan_file_path);
  const std::string tmp = path + ".tmp";
  json::object o;
  o["approved_at"] = FormatUtcMs(now_ms);
  o["by"] = by;
  const std::string line = json::serialize(o) + "\n";
  io::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Status::FromErrno(errno, "create approval", tmp);
  if (Status s = WriteAll(fd.get(), line, tmp); !s.ok()) return s;
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync approval", tmp);
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(errno, "rename approval", path);
  const std::string dir = path.substr(0, path.rfind('/'));
  io::UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() >= 0) ::fsync(d.get());
  return Status::Ok();
}

bool IsPlanApproved(const std::string& plan_file_path) {
  struct stat st;
  return ::stat(PlanApprovalPath(plan_file_path).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<int64_t> RemoveOldPlans(const std::string& log_dir, const std::string& pair, int64_t days,
                               int64_t now_ms) {
  const std::string dir = PlanDir(log_dir, pair);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return int64_t{0};
    return Status::FromErrno(errno, "open plan folder", dir);
  }
  int64_t removed = 0;
  const int64_t cutoff_s = now_ms / 1000 - days * 86400;
  const std::string suffix = kSuffix;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    struct stat st;
    if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_mtim.tv_sec < cutoff_s && ::unlinkat(::dirfd(d), name.c_str(), 0) == 0) {
      ++removed;
      const std::string approval = PlanApprovalPath(name);
      ::unlinkat(::dirfd(d), approval.c_str(), 0);
    }
  }
  ::closedir(d);
  return removed;
}

}  // namespace ha_sync::pipeline
