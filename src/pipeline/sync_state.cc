#include "pipeline/sync_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "ha_sync/unique_fd.h"
#include "io/file_ops.h"

namespace ha_sync::pipeline {

namespace {

// Whether the files at a and b hold the same bytes (false when either cannot
// be read).
bool SameBytes(const std::string& a, const std::string& b) {
  UniqueFd fa(::open(a.c_str(), O_RDONLY | O_CLOEXEC)), fb(::open(b.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat sa, sb;
  if (fa.get() < 0 || fb.get() < 0 || ::fstat(fa.get(), &sa) != 0 || ::fstat(fb.get(), &sb) != 0 ||
      sa.st_size != sb.st_size) {
    return false;
  }
  std::vector<char> ba(64 * 1024), bb(64 * 1024);
  for (off_t at = 0; at < sa.st_size;) {
    const ssize_t na = ::pread(fa.get(), ba.data(), ba.size(), at);
    const ssize_t nb = ::pread(fb.get(), bb.data(), bb.size(), at);
    if (na <= 0 || na != nb || std::memcmp(ba.data(), bb.data(), static_cast<size_t>(na)) != 0) return false;
    at += na;
  }
  return true;
}


constexpr char kMagic[] = "ha-sync state v1\n";
constexpr size_t kMagicLen = sizeof kMagic - 1;

// A state file is read by one thread, and written under StateWriter's
// mutex: stdio's own per-call locking is pure cost (a 20k-file state is
// ~100k calls).
bool ReadExact(FILE* f, void* buf, size_t n) { return n == 0 || ::fread_unlocked(buf, n, 1, f) == 1; }
bool WriteExact(FILE* f, const void* buf, size_t n) { return n == 0 || ::fwrite_unlocked(buf, n, 1, f) == 1; }

// Gives `f` a 64 KiB buffer (one read or write syscall per 64 KiB instead
// of per 4 KiB; glibc ignores the size unless the buffer is given), which
// must outlive the FILE.
std::unique_ptr<char[]> UseLargeBuffer(FILE* f) {
  constexpr size_t kSize = 64 * 1024;
  std::unique_ptr<char[]> buffer(new char[kSize]);
  if (std::setvbuf(f, buffer.get(), _IOFBF, kSize) != 0) return nullptr;  // stdio keeps its own
  return buffer;
}

bool ReadString(FILE* f, std::string* s) {
  uint32_t len;
  if (!ReadExact(f, &len, sizeof len) || len > (1u << 20)) return false;
  s->resize(len);
  return ReadExact(f, s->data(), len);
}

bool WriteString(FILE* f, const std::string& s) {
  const uint32_t len = static_cast<uint32_t>(s.size());
  return WriteExact(f, &len, sizeof len) && WriteExact(f, s.data(), s.size());
}

// Reads one 'E' record after its tag.
bool ReadEntry(FILE* f, StateEntry* e) {
  uint8_t type;
  if (!ReadExact(f, &type, 1) || !ReadString(f, &e->name) || !ReadExact(f, &e->size, sizeof e->size) ||
      !ReadExact(f, &e->mtime_ns, sizeof e->mtime_ns)) {
    return false;
  }
  e->type = static_cast<io::FileType>(type);
  return true;
}

bool WriteEntry(FILE* f, const StateEntry& e) {
  const uint8_t type = static_cast<uint8_t>(e.type);
  return WriteExact(f, "E", 1) && WriteExact(f, &type, 1) && WriteString(f, e.name) &&
         WriteExact(f, &e.size, sizeof e.size) && WriteExact(f, &e.mtime_ns, sizeof e.mtime_ns);
}

Status Corrupt(const std::string& path) {
  return Status::Error("sync state '" + path + "' is corrupt; delete it to start over (the next "
                       "run then behaves as a first run)");
}

}  // namespace

bool MtimeMatchesRecord(int64_t observed_ns, int64_t recorded_ns) {
  if (observed_ns == recorded_ns) return true;
  // A side whose filesystem keeps coarser times (whole seconds, microseconds)
  // stores the recorded time cut to its precision: the observed value's
  // trailing zeros tell which precision to cut the record to.
  for (int64_t unit = 1'000'000'000; unit > 1; unit /= 10) {
    if (observed_ns % unit != 0) continue;
    const int64_t cut = recorded_ns - ((recorded_ns % unit) + unit) % unit;
    return observed_ns == cut;
  }
  return false;
}

bool SameAsState(const io::Entry& e, const StateEntry& s) {
  if (e.type != s.type) return false;
  if (e.type == io::FileType::kDir) return true;
  if (e.type == io::FileType::kFile && e.size != s.size) return false;
  return MtimeMatchesRecord(e.mtime_ns, s.mtime_ns);
}

std::string StatePath(const std::string& log_dir, const std::string& pair) {
  return log_dir + "/state-" + pair + ".hss";
}

Result<std::unique_ptr<StateReader>> StateReader::Open(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rbe");
  if (f == nullptr) {
    if (errno == ENOENT) return std::unique_ptr<StateReader>();
    return Status::FromErrno(errno, "open sync state", path);
  }
  std::unique_ptr<StateReader> reader(new StateReader(f, path));
  reader->buffer_ = UseLargeBuffer(f);
  Status s = reader->BuildIndex();
  if (!s.ok()) return s;
  return reader;
}

StateReader::~StateReader() { std::fclose(file_); }

Status StateReader::BuildIndex() {
  char magic[kMagicLen];
  if (!ReadExact(file_, magic, kMagicLen) || std::memcmp(magic, kMagic, kMagicLen) != 0) {
    return Corrupt(path_);
  }
  // A directory may have several blocks (overrides are appended): the last
  // one counts, for the index and for the number of files.
  std::unordered_map<std::string, int64_t> files_per_dir;
  int64_t* files_here = nullptr;
  for (;;) {
    char tag;
    if (!ReadExact(file_, &tag, 1)) break;
    if (tag == 'D') {
      std::string dir;
      if (!ReadString(file_, &dir)) return Corrupt(path_);
      index_[dir] = std::ftell(file_);
      files_here = &files_per_dir[dir];
      *files_here = 0;
    } else if (tag == 'E') {
      StateEntry e;
      if (!ReadEntry(file_, &e) || files_here == nullptr) return Corrupt(path_);
      if (e.type != io::FileType::kDir) ++*files_here;
    } else {
      return Corrupt(path_);
    }
  }
  if (std::ferror(file_)) return Status::FromErrno(errno, "read sync state", path_);
  for (const auto& [dir, n] : files_per_dir) files_ += n;
  return Status::Ok();
}

Status StateReader::LoadDir(const std::string& dir, std::vector<StateEntry>* entries) {
  entries->clear();
  auto it = index_.find(dir);
  if (it == index_.end()) return Status::Ok();
  if (std::fseek(file_, it->second, SEEK_SET) != 0) return Status::FromErrno(errno, "seek", path_);
  for (;;) {
    char tag;
    if (!ReadExact(file_, &tag, 1) || tag != 'E') break;
    StateEntry e;
    if (!ReadEntry(file_, &e)) return Corrupt(path_);
    entries->push_back(std::move(e));
  }
  std::sort(entries->begin(), entries->end(),
            [](const StateEntry& a, const StateEntry& b) { return a.name < b.name; });
  return Status::Ok();
}

Result<std::unique_ptr<StateWriter>> StateWriter::Create(const std::string& path) {
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".%016llx.tmp", static_cast<unsigned long long>(io::RandomU64()));
  const std::string tmp = path + suffix;
  FILE* f = std::fopen(tmp.c_str(), "wbxe");
  if (f == nullptr) return Status::FromErrno(errno, "create sync state", tmp);
  std::unique_ptr<StateWriter> writer(new StateWriter(path, tmp, f));  // removes tmp unless committed
  writer->buffer_ = UseLargeBuffer(f);
  if (!WriteExact(f, kMagic, kMagicLen)) return Status::FromErrno(errno, "write sync state", tmp);
  return writer;
}

StateWriter::~StateWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) ::unlink(tmp_.c_str());
}

Status StateWriter::WriteDirLocked(const std::string& dir, const std::vector<StateEntry>& entries) {
  if (!WriteExact(file_, "D", 1) || !WriteString(file_, dir)) {
    return Status::FromErrno(errno, "write sync state", tmp_);
  }
  for (const StateEntry& e : entries) {
    if (!WriteEntry(file_, e)) return Status::FromErrno(errno, "write sync state", tmp_);
  }
  return Status::Ok();
}

Status StateWriter::WriteDir(const std::string& dir, std::vector<StateEntry> entries) {
  std::lock_guard<std::mutex> lock(mu_);
  return WriteDirLocked(dir, entries);
}

void StateWriter::Override(const std::string& dir, const std::string& name, const StateEntry* old_entry) {
  std::lock_guard<std::mutex> lock(mu_);
  StateEntry e;
  if (old_entry != nullptr) {
    e = *old_entry;
  } else {
    e.type = io::FileType::kOther;  // marks "remove"
  }
  e.name = name;
  overrides_[dir][name] = e;
}

Status StateWriter::Commit() {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::fflush(file_) != 0) return Status::FromErrno(errno, "write sync state", tmp_);
  if (!overrides_.empty()) {
    // Rewrite the overridden directories as later blocks: a reader's index
    // keeps the last block of a directory, so appending is enough.
    auto reader_or = StateReader::Open(tmp_);
    if (!reader_or.ok()) return reader_or.status();
    std::unique_ptr<StateReader> reader = std::move(*reader_or);
    // Open answers "no state" for a missing file: ours was removed under us.
    if (reader == nullptr) return Status::FromErrno(ENOENT, "reopen sync state", tmp_);
    for (const auto& [dir, names] : overrides_) {
      std::vector<StateEntry> entries;
      Status s = reader->LoadDir(dir, &entries);
      if (!s.ok()) return s;
      std::map<std::string, StateEntry> merged;
      for (auto& e : entries) merged[e.name] = std::move(e);
      for (const auto& [name, e] : names) {
        if (e.type == io::FileType::kOther) {
          merged.erase(name);
        } else {
          merged[name] = e;
        }
      }
      std::vector<StateEntry> out;
      for (auto& [name, e] : merged) out.push_back(std::move(e));
      s = WriteDirLocked(dir, out);
      if (!s.ok()) return s;
    }
    overrides_.clear();
    if (std::fflush(file_) != 0) return Status::FromErrno(errno, "write sync state", tmp_);
  }
  if (SameBytes(tmp_, path_)) {
    // Nothing changed (a no-op run): the committed file stays, and the run
    // saves the fsync and the rename.
    std::fclose(file_);
    file_ = nullptr;
    ::unlink(tmp_.c_str());
    committed_ = true;
    return Status::Ok();
  }
  if (::fsync(::fileno(file_)) != 0) return Status::FromErrno(errno, "fsync sync state", tmp_);
  if (std::fclose(file_) != 0) {
    file_ = nullptr;
    return Status::FromErrno(errno, "close sync state", tmp_);
  }
  file_ = nullptr;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return Status::FromErrno(errno, "rename sync state", path_);
  committed_ = true;
  return Status::Ok();
}

}  // namespace ha_sync::pipeline
