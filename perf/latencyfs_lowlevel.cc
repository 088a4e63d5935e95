// latencyfs's low-level (inode-based) front end, the default (--mode
// lowlevel). It negotiates FUSE_PARALLEL_DIROPS, so the kernel sends lookups
// and listings within one directory concurrently, as an NFS client does;
// the path-based front end (latencyfs_highlevel.cc) cannot.
//
// Inodes: a directory inode holds an O_PATH descriptor of the backing
// directory, which follows it through renames. Any other inode holds only
// its parent directory's inode and its name there, so a tree of a million
// files needs no million descriptors (the container's RLIMIT_NOFILE may be
// 20,000 and cannot be raised). Inodes are found again by (st_dev, st_ino),
// so hard links share one FUSE inode; a rename done through the mount moves
// the name; an unlinked or replaced file keeps working through its open
// handles, while path-based requests on it get ESTALE, as on NFS. An inode
// lives while the kernel's lookup count (nlookup) or the number of child
// inodes naming it as parent is above zero; FORGET lowers the first.
#define FUSE_USE_VERSION 314
#include <fuse3/fuse_lowlevel.h>

#include <dirent.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "latencyfs.h"

namespace latencyfs {
namespace {

// Closes the descriptor when the last user lets go, so a request that
// resolved a path keeps its directory open while a FORGET frees the inode.
struct DirFd {
  explicit DirFd(int f) : fd(f) {}
  ~DirFd() { close(fd); }
  DirFd(const DirFd&) = delete;
  DirFd& operator=(const DirFd&) = delete;
  const int fd;
};

struct Inode {
  std::shared_ptr<DirFd> dir;  // directories only: O_PATH | O_DIRECTORY
  Inode* parent = nullptr;     // others: where the name lives; null once unlinked
  std::string name;
  std::map<const void*, int> open_files;  // handle -> its descriptor
  std::shared_ptr<DirFd> orphan;          // a file unlinked while open: a dup of one

  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t nlookup = 0;   // guarded by InodeTable::mu_, as all fields but dev/ino
  uint64_t children = 0;  // non-directory inodes whose parent this is
};

// Where a request reaches an inode's backing file: (directory, name) for a
// file, (directory, "") with AT_EMPTY_PATH for a directory.
struct Target {
  std::shared_ptr<DirFd> at;
  std::string name;

  bool ok() const { return at != nullptr; }
  int fd() const { return at->fd; }
  const char* c_name() const { return name.c_str(); }
  int empty_path() const { return name.empty() ? AT_EMPTY_PATH : 0; }
  // A path for calls that take no descriptor (open, chmod, truncate, access).
  std::string Path() const {
    std::string p = "/proc/self/fd/" + std::to_string(at->fd);
    if (!name.empty()) p += "/" + name;
    return p;
  }
};

class InodeTable {
 public:
  Inode root;

  Inode* Get(fuse_ino_t id) { return id == FUSE_ROOT_ID ? &root : reinterpret_cast<Inode*>(id); }
  fuse_ino_t Id(Inode* in) { return in == &root ? FUSE_ROOT_ID : reinterpret_cast<fuse_ino_t>(in); }

  Target Where(Inode* in) {
    std::lock_guard<std::mutex> lock(mu_);
    if (in->dir) return {in->dir, ""};
    if (in->parent != nullptr) return {in->parent->dir, in->name};
    if (in->orphan) return {in->orphan, ""};
    return {};
  }

  // The inode of `name` in `parent` (attributes st), with one more lookup.
  // dir_fd: an O_PATH descriptor when st is a directory (taken over), else -1.
  Inode* Acquire(Inode* parent, const std::string& name, int dir_fd, const struct stat& st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (st.st_dev == root.dev && st.st_ino == root.ino) {
      if (dir_fd >= 0) close(dir_fd);
      return &root;
    }
    auto& slot = by_file_[{st.st_dev, st.st_ino}];
    if (!slot) {
      slot = std::make_unique<Inode>();
      slot->dev = st.st_dev;
      slot->ino = st.st_ino;
      if (dir_fd >= 0) {
        slot->dir = std::make_shared<DirFd>(dir_fd);
        dir_fd = -1;
      }
    }
    if (dir_fd >= 0) close(dir_fd);
    if (!slot->dir && slot->parent == nullptr) Attach(slot.get(), parent, name);
    ++slot->nlookup;
    return slot.get();
  }

  void Forget(Inode* in, uint64_t n) {
    if (in == &root) return;
    std::lock_guard<std::mutex> lock(mu_);
    in->nlookup -= std::min(n, in->nlookup);
    FreeIfUnused(in);
  }

  // After a rename through the mount: the file now named `name` in `parent`
  // (attributes st) is found there from now on.
  void Moved(Inode* parent, const std::string& name, const struct stat& st) {
    std::lock_guard<std::mutex> lock(mu_);
    Inode* in = Find(st);
    if (in == nullptr || in->dir) return;
    Detach(in);
    Attach(in, parent, name);
  }

  // After an unlink, or a rename that replaced it: the file of attributes st
  // has lost its name.
  void Unnamed(const struct stat& st) {
    std::lock_guard<std::mutex> lock(mu_);
    Inode* in = Find(st);
    if (in == nullptr || in->dir) return;
    Inode* parent = in->parent;
    Detach(in);
    // As an NFS client keeps an open file reachable after its unlink
    // ("silly rename"), requests that name the inode keep working.
    if (!in->open_files.empty() && !in->orphan) {
      const int fd = dup(in->open_files.begin()->second);
      if (fd >= 0) in->orphan = std::make_shared<DirFd>(fd);
    }
    if (parent != nullptr) FreeIfUnused(parent);
  }

  void Opened(Inode* in, const void* handle, int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    in->open_files[handle] = fd;
  }

  void Closed(Inode* in, const void* handle) {
    std::lock_guard<std::mutex> lock(mu_);
    in->open_files.erase(handle);
  }

 private:
  Inode* Find(const struct stat& st) {
    auto it = by_file_.find({st.st_dev, st.st_ino});
    return it == by_file_.end() ? nullptr : it->second.get();
  }

  void Attach(Inode* in, Inode* parent, const std::string& name) {
    in->parent = parent;
    in->name = name;
    ++parent->children;
  }

  void Detach(Inode* in) {
    if (in->parent == nullptr) return;
    --in->parent->children;
    in->parent = nullptr;
    in->name.clear();
  }

  void FreeIfUnused(Inode* in) {
    while (in != nullptr && in != &root && in->nlookup == 0 && in->children == 0) {
      Inode* parent = in->parent;
      Detach(in);
      by_file_.erase({in->dev, in->ino});
      in = parent;
    }
  }

  std::mutex mu_;
  std::map<std::pair<dev_t, ino_t>, std::unique_ptr<Inode>> by_file_;
};

InodeTable g_inodes;

Inode* In(fuse_ino_t id) { return g_inodes.Get(id); }
Target Where(fuse_ino_t id) { return g_inodes.Where(In(id)); }

// The descriptor of a directory inode. The kernel names only directories as
// parents, and a directory's descriptor lives as long as its inode, which
// the kernel keeps while the request runs.
int DirFdOf(fuse_ino_t id) {
  Inode* in = In(id);
  return in->dir ? in->dir->fd : -1;
}

int StatOf(const Target& t, struct stat* st) {
  if (!t.ok()) return ESTALE;
  return fstatat(t.fd(), t.c_name(), st, t.empty_path() | AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
}

void FillEntry(fuse_entry_param* e, Inode* in, const struct stat& st) {
  std::memset(e, 0, sizeof *e);
  e->ino = g_inodes.Id(in);
  e->attr = st;
  e->attr_timeout = g_cfg.attr_timeout;
  e->entry_timeout = g_cfg.attr_timeout;
}

// Looks name up in parent without charging a round trip; 0 or an errno.
// Directories get a descriptor (checked to be the file just stat'ed);
// anything else is only named.
int DoLookup(Inode* parent, const char* name, fuse_entry_param* e) {
  const Target dir = g_inodes.Where(parent);
  if (!dir.ok()) return ESTALE;
  struct stat st;
  if (fstatat(dir.fd(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  int dir_fd = -1;
  if (S_ISDIR(st.st_mode)) {
    dir_fd = openat(dir.fd(), name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0) return errno;
    if (fstatat(dir_fd, "", &st, AT_EMPTY_PATH) != 0 || !S_ISDIR(st.st_mode)) {
      close(dir_fd);
      return ESTALE;
    }
  }
  FillEntry(e, g_inodes.Acquire(parent, name, dir_fd, st), st);
  return 0;
}

void ReplyEntryOf(fuse_req_t req, Inode* parent, const char* name) {
  fuse_entry_param e;
  const int err = DoLookup(parent, name, &e);
  if (err != 0) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_entry(req, &e);
  }
}

void ReplyAttr(fuse_req_t req, const Target& t) {
  struct stat st;
  const int err = StatOf(t, &st);
  if (err != 0) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_attr(req, &st, g_cfg.attr_timeout);
  }
}

// ---------------------------------------------------------------- open files

struct FileHandle {
  int fd = -1;
  std::atomic<bool> dirty{false};  // written since the last COMMIT
};

FileHandle* FhOf(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }

void CommitIfDirty(FileHandle* h) {
  if (h->dirty.exchange(false)) Commit();
}

// ---------------------------------------------------------------- INIT reply

// libfuse before 3.16 never sets FUSE_PARALLEL_DIROPS in its INIT reply,
// whatever conn->want says (libfuse pull request 861), so the kernel would
// serialise lookups per directory as in the high-level mode. Replies go out
// through SendToKernel() (fuse_session_custom_io); Init() arms it on its
// thread, and the next reply it sends, the INIT reply, gets the flag.
thread_local bool t_init_reply_next = false;

void PatchInitReply(struct iovec* iov, int count) {
  if (count < 2 || iov[0].iov_len < sizeof(fuse_out_header)) return;
  const auto* hdr = static_cast<const fuse_out_header*>(iov[0].iov_base);
  if (hdr->error != 0 || iov[1].iov_len < offsetof(fuse_init_out, flags) + sizeof(uint32_t)) return;
  auto* out = static_cast<fuse_init_out*>(iov[1].iov_base);
  const bool had = (out->flags & FUSE_PARALLEL_DIROPS) != 0;
  out->flags |= FUSE_PARALLEL_DIROPS;
  NoteParallelDirops(true, true);
  std::fprintf(stderr, "latencyfs: FUSE_PARALLEL_DIROPS on (%s)\n",
               had ? "set by libfuse" : "set here; this libfuse leaves it out");
}

ssize_t SendToKernel(int fd, struct iovec* iov, int count, void*) {
  if (t_init_reply_next) {
    t_init_reply_next = false;
    PatchInitReply(iov, count);
  }
  return writev(fd, iov, count);
}

ssize_t ReceiveFromKernel(int fd, void* buf, size_t len, void*) { return read(fd, buf, len); }

// ---------------------------------------------------------------- handlers

void Init(void*, fuse_conn_info* conn) {
  const bool capable = (conn->capable & FUSE_CAP_PARALLEL_DIROPS) != 0;
  if (capable) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  t_init_reply_next = capable;
  if (g_cfg.readdirplus && (conn->capable & FUSE_CAP_READDIRPLUS) != 0) {
    conn->want |= FUSE_CAP_READDIRPLUS;
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;  // always send attributes with names
  } else {
    conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
  }
  // The kernel writes through (no writeback cache), as an NFS client's
  // WRITEs reach the server before close returns.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  conn->max_readahead = 1 << 20;
  // Whether the flag reached the kernel is known once SendToKernel() has
  // seen the INIT reply.
  if (!capable) {
    NoteParallelDirops(false, false);
    std::fprintf(stderr, "latencyfs: FUSE_PARALLEL_DIROPS not offered by the kernel\n");
  }
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Count(Op::kLookup);
  RoundTrip();
  fuse_entry_param e;
  const int err = DoLookup(In(parent), name, &e);
  if (err == ENOENT) {
    // A negative entry the kernel may cache, as NFS clients cache misses.
    std::memset(&e, 0, sizeof e);
    e.entry_timeout = g_cfg.attr_timeout;
    fuse_reply_entry(req, &e);
  } else if (err != 0) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_entry(req, &e);
  }
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Count(Op::kForget);
  g_inodes.Forget(In(ino), nlookup);
  fuse_reply_none(req);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  Count(Op::kBatchForget);
  for (size_t i = 0; i < count; ++i) g_inodes.Forget(In(forgets[i].ino), forgets[i].nlookup);
  fuse_reply_none(req);
}

// fstat() of an open file: its handle reaches it even once unlinked.
void GetAttrOfHandle(fuse_req_t req, fuse_file_info* fi) {
  struct stat st;
  if (fstat(FhOf(fi)->fd, &st) != 0) {
    fuse_reply_err(req, errno);
  } else {
    fuse_reply_attr(req, &st, g_cfg.attr_timeout);
  }
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Count(Op::kGetattr);
  RoundTrip();
  if (fi != nullptr && fi->fh != 0) {
    GetAttrOfHandle(req, fi);
  } else {
    ReplyAttr(req, Where(ino));
  }
}

timespec TimeArg(int to_set, int set_bit, int now_bit, const timespec& t) {
  if ((to_set & now_bit) != 0) return {0, UTIME_NOW};
  if ((to_set & set_bit) != 0) return t;
  return {0, UTIME_OMIT};
}

// One SETATTR may carry several attributes; each is applied in turn, with
// the open file's descriptor where the kernel names one.
int ApplySetAttr(const Target& t, const struct stat* attr, int to_set, fuse_file_info* fi) {
  const int ofd = fi != nullptr ? FhOf(fi)->fd : -1;
  if (!t.ok() && ofd < 0) return ESTALE;
  const std::string path = t.ok() ? t.Path() : std::string();
  if ((to_set & FUSE_SET_ATTR_MODE) != 0) {
    const int rc = ofd >= 0 ? fchmod(ofd, attr->st_mode) : chmod(path.c_str(), attr->st_mode);
    if (rc != 0) return errno;
  }
  if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) != 0) {
    const uid_t uid = (to_set & FUSE_SET_ATTR_UID) != 0 ? attr->st_uid : static_cast<uid_t>(-1);
    const gid_t gid = (to_set & FUSE_SET_ATTR_GID) != 0 ? attr->st_gid : static_cast<gid_t>(-1);
    const int rc = ofd >= 0 ? fchown(ofd, uid, gid)
                            : fchownat(t.fd(), t.c_name(), uid, gid, t.empty_path() | AT_SYMLINK_NOFOLLOW);
    if (rc != 0) return errno;
  }
  if ((to_set & FUSE_SET_ATTR_SIZE) != 0) {
    const int rc = ofd >= 0 ? ftruncate(ofd, attr->st_size) : truncate(path.c_str(), attr->st_size);
    if (rc != 0) return errno;
  }
  if ((to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                 FUSE_SET_ATTR_MTIME_NOW)) != 0) {
    const timespec tv[2] = {TimeArg(to_set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, attr->st_atim),
                            TimeArg(to_set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, attr->st_mtim)};
    const int rc = ofd >= 0 ? futimens(ofd, tv)
                            : utimensat(t.fd(), t.c_name(), tv, t.empty_path() | AT_SYMLINK_NOFOLLOW);
    if (rc != 0) return errno;
  }
  return 0;
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Count(Op::kSetattr);
  RoundTrip();
  const Target t = Where(ino);
  const int err = ApplySetAttr(t, attr, to_set, fi);
  if (err != 0) {
    fuse_reply_err(req, err);
  } else if (fi != nullptr) {
    GetAttrOfHandle(req, fi);
  } else {
    ReplyAttr(req, t);
  }
}

void ReadLink(fuse_req_t req, fuse_ino_t ino) {
  Count(Op::kReadlink);
  RoundTrip();
  char buf[PATH_MAX + 1];
  const Target t = Where(ino);
  const ssize_t n = t.ok() ? readlinkat(t.fd(), t.c_name(), buf, PATH_MAX) : (errno = ESTALE, -1);
  if (n < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  buf[n] = '\0';
  fuse_reply_readlink(req, buf);
}

void MkNod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Count(Op::kMknod);
  RoundTrip();
  if (mknodat(DirFdOf(parent), name, mode, rdev) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  ReplyEntryOf(req, In(parent), name);
}

void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Count(Op::kMkdir);
  RoundTrip();
  if (mkdirat(DirFdOf(parent), name, mode) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  ReplyEntryOf(req, In(parent), name);
}

void SymLink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  Count(Op::kSymlink);
  RoundTrip();
  if (symlinkat(target, DirFdOf(parent), name) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  ReplyEntryOf(req, In(parent), name);
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Count(Op::kLink);
  RoundTrip();
  const Target t = Where(ino);
  const int rc = t.ok() ? linkat(t.fd(), t.c_name(), DirFdOf(newparent), newname, 0) : (errno = ESTALE, -1);
  if (rc != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  ReplyEntryOf(req, In(newparent), newname);
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Count(Op::kUnlink);
  RoundTrip();
  const int dir = DirFdOf(parent);
  struct stat st;
  const bool known = fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (unlinkat(dir, name, 0) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  if (known) g_inodes.Unnamed(st);
  fuse_reply_err(req, 0);
}

void RmDir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Count(Op::kRmdir);
  RoundTrip();
  fuse_reply_err(req, unlinkat(DirFdOf(parent), name, AT_REMOVEDIR) == 0 ? 0 : errno);
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
            unsigned int flags) {
  Count(Op::kRename);
  RoundTrip();
  const int from = DirFdOf(parent);
  const int to = DirFdOf(newparent);
  struct stat replaced;
  const bool replaces = (flags & RENAME_NOREPLACE) == 0 && fstatat(to, newname, &replaced, AT_SYMLINK_NOFOLLOW) == 0;
  if (renameat2(from, name, to, newname, flags) != 0) {
    fuse_reply_err(req, errno);
    return;
  }
  // With RENAME_EXCHANGE both names move; otherwise the old target lost its name.
  struct stat moved;
  if (replaces && (flags & RENAME_EXCHANGE) == 0) g_inodes.Unnamed(replaced);
  if (replaces && (flags & RENAME_EXCHANGE) != 0) g_inodes.Moved(In(parent), name, replaced);
  if (fstatat(to, newname, &moved, AT_SYMLINK_NOFOLLOW) == 0) g_inodes.Moved(In(newparent), newname, moved);
  fuse_reply_err(req, 0);
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Count(Op::kOpen);
  RoundTrip();
  OpenRevalidate();
  const Target t = Where(ino);
  const int fd = t.ok() ? open(t.Path().c_str(), (fi->flags & ~O_NOFOLLOW) | O_CLOEXEC) : (errno = ESTALE, -1);
  if (fd < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  auto* h = new FileHandle;
  h->fd = fd;
  fi->fh = reinterpret_cast<uint64_t>(h);
  g_inodes.Opened(In(ino), h, fd);
  if (fuse_reply_open(req, fi) != 0) {
    g_inodes.Closed(In(ino), h);
    close(fd);
    delete h;
  }
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  Count(Op::kCreate);
  RoundTrip();
  Inode* dir = In(parent);
  const int fd = openat(DirFdOf(parent), name, ((fi->flags | O_CREAT) & ~O_NOFOLLOW) | O_CLOEXEC, mode);
  if (fd < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  fuse_entry_param e;
  const int err = DoLookup(dir, name, &e);
  if (err != 0) {
    close(fd);
    fuse_reply_err(req, err);
    return;
  }
  auto* h = new FileHandle;
  h->fd = fd;
  fi->fh = reinterpret_cast<uint64_t>(h);
  g_inodes.Opened(In(e.ino), h, fd);
  if (fuse_reply_create(req, &e, fi) != 0) {
    g_inodes.Closed(In(e.ino), h);
    g_inodes.Forget(In(e.ino), 1);
    close(fd);
    delete h;
  }
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  Count(Op::kRead);
  thread_local std::vector<char> buf;
  if (buf.size() < size) buf.resize(size);
  const ssize_t n = pread(FhOf(fi)->fd, buf.data(), size, off);
  if (n < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  ReadTransfer(static_cast<size_t>(n));
  fuse_reply_buf(req, buf.data(), static_cast<size_t>(n));
}

void Write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  Count(Op::kWrite);
  FileHandle* h = FhOf(fi);
  WriteTransfer(size);
  h->dirty.store(true);
  const ssize_t n = pwrite(h->fd, buf, size, off);
  if (n < 0) {
    fuse_reply_err(req, errno);
  } else {
    fuse_reply_write(req, static_cast<size_t>(n));
  }
}

// FLUSH is each close(); on NFS only the COMMIT of unstable writes costs a
// round trip then.
void Flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Count(Op::kFlush);
  CommitIfDirty(FhOf(fi));
  fuse_reply_err(req, 0);
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Count(Op::kRelease);
  RoundTrip();  // NFSv4 CLOSE is a round trip too
  FileHandle* h = FhOf(fi);
  g_inodes.Closed(In(ino), h);
  CommitIfDirty(h);
  close(h->fd);
  delete h;
  fuse_reply_err(req, 0);
}

void FSync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  Count(Op::kFsync);
  FileHandle* h = FhOf(fi);
  // An fsync on NFS is the COMMIT; with nothing unstable it still asks.
  if (!h->dirty.exchange(false)) RoundTrip();
  else Commit();
  fuse_reply_err(req, (datasync ? fdatasync(h->fd) : fsync(h->fd)) == 0 ? 0 : errno);
}

void StatFs(fuse_req_t req, fuse_ino_t) {
  Count(Op::kStatfs);
  RoundTrip();
  struct statvfs st;
  if (fstatvfs(g_inodes.root.dir->fd, &st) != 0) {
    fuse_reply_err(req, errno);
  } else {
    fuse_reply_statfs(req, &st);
  }
}

void Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  Count(Op::kAccess);
  RoundTrip();
  const Target t = Where(ino);
  const int rc = t.ok() ? faccessat(AT_FDCWD, t.Path().c_str(), mask, 0) : (errno = ESTALE, -1);
  fuse_reply_err(req, rc == 0 ? 0 : errno);
}

void Fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len, fuse_file_info* fi) {
  Count(Op::kFallocate);
  RoundTrip();
  fuse_reply_err(req, fallocate(FhOf(fi)->fd, mode, off, len) == 0 ? 0 : errno);
}

// A server-side copy (NFS 4.2 COPY): one round trip, no bytes on the link.
void CopyFileRange(fuse_req_t req, fuse_ino_t, off_t off_in, fuse_file_info* fi_in, fuse_ino_t, off_t off_out,
                   fuse_file_info* fi_out, size_t len, int flags) {
  Count(Op::kCopyFileRange);
  RoundTrip();
  FileHandle* out = FhOf(fi_out);
  const ssize_t n = copy_file_range(FhOf(fi_in)->fd, &off_in, out->fd, &off_out, len, static_cast<unsigned>(flags));
  if (n < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  out->dirty.store(true);
  fuse_reply_write(req, static_cast<size_t>(n));
}

void Lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  Count(Op::kLseek);
  RoundTrip();
  const off_t r = lseek(FhOf(fi)->fd, off, whence);
  if (r < 0) {
    fuse_reply_err(req, errno);
  } else {
    fuse_reply_lseek(req, r);
  }
}

// Extended attributes: NFS up to 4.1 has none. ENOSYS makes the kernel stop
// asking for the rest of the mount, so each kind is counted about once.
void GetXattr(fuse_req_t req, fuse_ino_t, const char*, size_t) {
  Count(Op::kGetxattr);
  fuse_reply_err(req, ENOSYS);
}
void ListXattr(fuse_req_t req, fuse_ino_t, size_t) {
  Count(Op::kListxattr);
  fuse_reply_err(req, ENOSYS);
}
void SetXattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
  Count(Op::kSetxattr);
  fuse_reply_err(req, ENOSYS);
}
void RemoveXattr(fuse_req_t req, fuse_ino_t, const char*) {
  Count(Op::kRemovexattr);
  fuse_reply_err(req, ENOSYS);
}

// ---------------------------------------------------------------- directories

// The listing is read once per handle, at offset 0, and served by entry
// index from then on (offset = index + 1).
struct DirEntry {
  std::string name;
  ino_t ino;
  unsigned char type;
};

struct DirHandle {
  int fd = -1;  // O_RDONLY | O_DIRECTORY
  std::mutex mu;
  bool loaded = false;
  std::vector<DirEntry> entries;
};

DirHandle* DirOf(fuse_file_info* fi) { return reinterpret_cast<DirHandle*>(fi->fh); }

int LoadDir(DirHandle* h) {
  h->entries.clear();
  const int fd = openat(h->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    close(fd);
    return err;
  }
  for (;;) {
    errno = 0;
    const struct dirent* de = readdir(dir);
    if (de == nullptr) break;
    h->entries.push_back({de->d_name, de->d_ino, de->d_type});
  }
  const int err = errno;
  closedir(dir);
  h->loaded = err == 0;
  return err;
}

// Entries a real server returns in one READDIR(PLUS) reply: the kernel asks
// FUSE for one page at a time (~25 entries with attributes), NFS for ~32 KiB,
// so a round trip is charged per this many entries, not per kernel request.
constexpr off_t kEntriesPerReply = 128;

// Adds entry i to buf; returns its size, or 0 when it does not fit. With
// plus, the entry is looked up (its attributes travel in this reply, so no
// round trip), and that lookup is undone if the entry does not fit.
size_t AddEntry(fuse_req_t req, Inode* dir, const DirEntry& de, off_t next, char* buf, size_t room, bool plus) {
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  const bool dots = de.name == "." || de.name == "..";
  if (!plus || dots || DoLookup(dir, de.name.c_str(), &e) != 0) {
    std::memset(&e, 0, sizeof e);
    e.attr.st_ino = de.ino;
    e.attr.st_mode = static_cast<mode_t>(DTTOIF(de.type));
  }
  const size_t need = plus ? fuse_add_direntry_plus(req, buf, room, de.name.c_str(), &e, next)
                           : fuse_add_direntry(req, buf, room, de.name.c_str(), &e.attr, next);
  if (need <= room) return need;
  if (e.ino != 0) g_inodes.Forget(In(e.ino), 1);
  return 0;
}

// Fills buf with the entries from `off` on; 0 or an errno. Under h->mu.
int FillDir(fuse_req_t req, fuse_ino_t ino, DirHandle* h, off_t off, bool plus, std::vector<char>* buf,
            size_t* used) {
  if (off == 0 || !h->loaded) {
    RoundTrip();
    if (const int err = LoadDir(h); err != 0) return err;
  }
  off_t i = off;
  for (; i < static_cast<off_t>(h->entries.size()); ++i) {
    const size_t n = AddEntry(req, In(ino), h->entries[static_cast<size_t>(i)], i + 1, buf->data() + *used,
                              buf->size() - *used, plus);
    if (n == 0) break;
    *used += n;
  }
  if (off > 0 && off / kEntriesPerReply != i / kEntriesPerReply) RoundTrip();
  return 0;
}

void ServeDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  Count(plus ? Op::kReaddirplus : Op::kReaddir);
  DirHandle* h = DirOf(fi);
  std::vector<char> buf(size);
  size_t used = 0;
  int err;
  {
    std::lock_guard<std::mutex> lock(h->mu);
    err = FillDir(req, ino, h, off, plus, &buf, &used);
  }
  // The reply goes out once the handle's lock is let go: it lets the caller
  // close the directory, and the RELEASEDIR that follows, on another thread,
  // frees the handle. Unlocking after the reply wrote into freed memory
  // (the crashes seen in perf/README.md, "A million files").
  if (err != 0) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_buf(req, buf.data(), used);
  }
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Count(Op::kOpendir);
  RoundTrip();
  const int fd = openat(DirFdOf(ino), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    fuse_reply_err(req, errno);
    return;
  }
  auto* h = new DirHandle;
  h->fd = fd;
  fi->fh = reinterpret_cast<uint64_t>(h);
  if (fuse_reply_open(req, fi) != 0) {
    close(fd);
    delete h;
  }
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ServeDir(req, ino, size, off, fi, false);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ServeDir(req, ino, size, off, fi, true);
}

void ReleaseDir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  Count(Op::kReleasedir);
  DirHandle* h = DirOf(fi);
  close(h->fd);
  delete h;
  fuse_reply_err(req, 0);
}

void FSyncDir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  Count(Op::kFsyncdir);
  RoundTrip();
  const int fd = DirOf(fi)->fd;
  fuse_reply_err(req, (datasync ? fdatasync(fd) : fsync(fd)) == 0 ? 0 : errno);
}

// ---------------------------------------------------------------- session

fuse_lowlevel_ops Operations() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof ops);
  ops.init = Init;
  ops.lookup = Lookup;
  ops.forget = Forget;
  ops.forget_multi = ForgetMulti;
  ops.getattr = GetAttr;
  ops.setattr = SetAttr;
  ops.readlink = ReadLink;
  ops.mknod = MkNod;
  ops.mkdir = MkDir;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.symlink = SymLink;
  ops.rename = Rename;
  ops.link = Link;
  ops.open = Open;
  ops.read = Read;
  ops.write = Write;
  ops.flush = Flush;
  ops.release = Release;
  ops.fsync = FSync;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.readdirplus = ReadDirPlus;
  ops.releasedir = ReleaseDir;
  ops.fsyncdir = FSyncDir;
  ops.statfs = StatFs;
  ops.access = Access;
  ops.create = Create;
  ops.fallocate = Fallocate;
  ops.copy_file_range = CopyFileRange;
  ops.lseek = Lseek;
  ops.getxattr = GetXattr;
  ops.listxattr = ListXattr;
  ops.setxattr = SetXattr;
  ops.removexattr = RemoveXattr;
  return ops;
}

bool OpenRoot() {
  const int fd = open(g_cfg.backing.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstatat(fd, "", &st, AT_EMPTY_PATH) != 0) {
    std::fprintf(stderr, "latencyfs: open %s: %s\n", g_cfg.backing.c_str(), std::strerror(errno));
    return false;
  }
  g_inodes.root.dir = std::make_shared<DirFd>(fd);
  g_inodes.root.dev = st.st_dev;
  g_inodes.root.ino = st.st_ino;
  g_inodes.root.nlookup = 1;
  return true;
}

int Serve(fuse_session* se) {
  if (fuse_set_signal_handlers(se) != 0) return 1;
  if (fuse_session_mount(se, g_cfg.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    return 1;
  }
  fuse_custom_io io;
  std::memset(&io, 0, sizeof io);
  io.writev = SendToKernel;
  io.read = ReceiveFromKernel;
  if (fuse_session_custom_io(se, &io, fuse_session_fd(se)) != 0) {
    std::fprintf(stderr, "latencyfs: fuse_session_custom_io failed\n");
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    return 1;
  }
  fuse_loop_config* loop = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(loop, g_cfg.threads);
  fuse_loop_cfg_set_idle_threads(loop, g_cfg.threads);
  const int rc = fuse_session_loop_mt(se, loop);
  fuse_loop_cfg_destroy(loop);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  return rc == 0 ? 0 : 1;
}

}  // namespace

int RunLowLevel() {
  if (!OpenRoot()) return 1;
  const fuse_lowlevel_ops ops = Operations();
  std::vector<std::string> fargs = {"latencyfs", "-o", "fsname=latencyfs,subtype=latencyfs"};
  if (g_cfg.debug) fargs.push_back("-d");
  std::vector<char*> fargv;
  for (auto& s : fargs) fargv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fargv.size()), fargv.data());
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, nullptr);
  if (se == nullptr) return 1;
  const int rc = Serve(se);
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return rc;
}

}  // namespace latencyfs
