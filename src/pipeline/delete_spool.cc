#include "pipeline/delete_spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace ha_sync::pipeline {

namespace {
struct Fixed {
  char kind;
  char is_dir;
  uint8_t type;
  int64_t size;
  int64_t atime_ns;
  int64_t mtime_ns;
  uint32_t path_len;
};
}  // namespace

Result<std::unique_ptr<DeleteSpool>> DeleteSpool::Create(const std::string& temp_dir) {
  const std::string dir = temp_dir.empty() ? "/tmp" : temp_dir;
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::string templ = dir + "/.ha-sync-spool-XXXXXX";
    fd = ::mkostemp(templ.data(), O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "create delete spool in", dir);
    ::unlink(templ.c_str());
  }
  FILE* file = ::fdopen(fd, "w+");
  if (file == nullptr) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "open delete spool in", dir);
  }
  return std::unique_ptr<DeleteSpool>(new DeleteSpool(file));
}

DeleteSpool::~DeleteSpool() { std::fclose(file_); }

Status DeleteSpool::Append(const SpoolRecord& r) {
  Fixed f{static_cast<char>(r.kind), r.is_dir ? '\1' : '\0', r.type, r.size, r.atime_ns, r.mtime_ns,
          static_cast<uint32_t>(r.rel_path.size())};
  if (std::fwrite(&f, sizeof f, 1, file_) != 1 ||
      (!r.rel_path.empty() && std::fwrite(r.rel_path.data(), r.rel_path.size(), 1, file_) != 1)) {
    return Status::FromErrno(errno, "write", "delete spool");
  }
  ++records_;
  if (r.kind == SpoolRecord::Kind::kDelete) {
    ++deletes_;
    if (!r.is_dir) ++files_;
  }
  return Status::Ok();
}

Status DeleteSpool::Rewind() {
  if (std::fflush(file_) != 0) return Status::FromErrno(errno, "flush", "delete spool");
  std::rewind(file_);
  return Status::Ok();
}

bool DeleteSpool::Next(SpoolRecord* r, Status* status) {
  Fixed f;
  if (std::fread(&f, sizeof f, 1, file_) != 1) {
    if (std::ferror(file_)) *status = Status::FromErrno(errno, "read", "delete spool");
    return false;
  }
  r->kind = static_cast<SpoolRecord::Kind>(f.kind);
  r->is_dir = f.is_dir != 0;
  r->type = f.type;
  r->size = f.size;
  r->atime_ns = f.atime_ns;
  r->mtime_ns = f.mtime_ns;
  r->rel_path.resize(f.path_len);
  if (f.path_len > 0 && std::fread(r->rel_path.data(), f.path_len, 1, file_) != 1) {
    *status = Status::Error("delete spool is truncated");
    return false;
  }
  return true;
}

}  // namespace ha_sync::pipeline
