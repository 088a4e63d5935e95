// latencyfs's high-level (path-based) front end, selected with --mode
// highlevel: the one the figures before issue 14 were measured with, kept so
// they can be compared. The kernel serialises directory operations within one
// directory here (libfuse 3.14's high-level layer does not pass
// FUSE_PARALLEL_DIROPS on); latencyfs_lowlevel.cc lifts that. Counters count
// callbacks: one SETATTR that sets several attributes counts once per
// attribute, and a LOOKUP counts as the GETATTR libfuse serves it with.
#define FUSE_USE_VERSION 314
#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>

#include "latencyfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

using latencyfs::Count;
using latencyfs::g_cfg;
using latencyfs::Op;

int g_root = -1;

// Set while ReadDir() fills a READDIRPLUS reply: libfuse's high-level layer
// calls getattr for every entry then, and those attributes travel in the
// one reply, so they cost no round trip of their own.
thread_local bool t_in_readdir = false;

void Meta(Op op) {
  if (t_in_readdir) return;
  Count(op);
  latencyfs::RoundTrip();
}

// Descriptors written to since the last COMMIT (close-to-open costs).
std::mutex g_dirty_mu;
std::unordered_set<int> g_dirty;

void MarkDirty(int fd) {
  std::lock_guard<std::mutex> lock(g_dirty_mu);
  g_dirty.insert(fd);
}

void CommitIfDirty(int fd) {
  {
    std::lock_guard<std::mutex> lock(g_dirty_mu);
    if (g_dirty.erase(fd) == 0) return;
  }
  latencyfs::Commit();
}

// FUSE paths start with '/'; the backing tree is opened relative to g_root.
const char* Rel(const char* path) {
  while (*path == '/') ++path;
  return *path ? path : ".";
}

int Err(int rc) { return rc < 0 ? -errno : rc; }

void* Init(struct fuse_conn_info* conn, struct fuse_config* cfg) {
  cfg->use_ino = 1;
  cfg->hard_remove = 1;  // no .fuse_hidden files for unlinked open files
  cfg->entry_timeout = g_cfg.attr_timeout;
  cfg->attr_timeout = g_cfg.attr_timeout;
  cfg->negative_timeout = g_cfg.attr_timeout;
  cfg->nullpath_ok = 0;
  if (g_cfg.readdirplus) {
    conn->want |= FUSE_CAP_READDIRPLUS;
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;  // always send attributes with names
  } else {
    conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
  }
  // Asked for, but libfuse 3.14's high-level layer does not pass it on in
  // the INIT reply (seen with --debug), so the kernel serialises lookups
  // within one directory; --mode lowlevel (latencyfs_lowlevel.cc) gets it.
  conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  latencyfs::NoteParallelDirops((conn->capable & FUSE_CAP_PARALLEL_DIROPS) != 0, false);
  conn->max_background = 64;
  if (g_cfg.debug) std::fprintf(stderr, "latencyfs: capable 0x%x want 0x%x\n", conn->capable, conn->want);
  conn->congestion_threshold = 48;
  conn->max_readahead = 1 << 20;
  return nullptr;
}

int GetAttr(const char* path, struct stat* st, struct fuse_file_info* fi) {
  Meta(Op::kGetattr);
  if (fi != nullptr) return Err(fstat(static_cast<int>(fi->fh), st));
  return Err(fstatat(g_root, Rel(path), st, AT_SYMLINK_NOFOLLOW));
}

int ReadLink(const char* path, char* buf, size_t size) {
  Meta(Op::kReadlink);
  const ssize_t n = readlinkat(g_root, Rel(path), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

int MkDir(const char* path, mode_t mode) {
  Meta(Op::kMkdir);
  return Err(mkdirat(g_root, Rel(path), mode));
}

int Unlink(const char* path) {
  Meta(Op::kUnlink);
  return Err(unlinkat(g_root, Rel(path), 0));
}

int RmDir(const char* path) {
  Meta(Op::kRmdir);
  return Err(unlinkat(g_root, Rel(path), AT_REMOVEDIR));
}

int SymLink(const char* target, const char* path) {
  Meta(Op::kSymlink);
  return Err(symlinkat(target, g_root, Rel(path)));
}

int Rename(const char* from, const char* to, unsigned int flags) {
  Meta(Op::kRename);
  return Err(renameat2(g_root, Rel(from), g_root, Rel(to), flags));
}

int ChMod(const char* path, mode_t mode, struct fuse_file_info* fi) {
  Meta(Op::kSetattr);
  if (fi != nullptr) return Err(fchmod(static_cast<int>(fi->fh), mode));
  return Err(fchmodat(g_root, Rel(path), mode, 0));
}

int ChOwn(const char* path, uid_t uid, gid_t gid, struct fuse_file_info* fi) {
  Meta(Op::kSetattr);
  if (fi != nullptr) return Err(fchown(static_cast<int>(fi->fh), uid, gid));
  return Err(fchownat(g_root, Rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

int Truncate(const char* path, off_t size, struct fuse_file_info* fi) {
  Meta(Op::kSetattr);
  if (fi != nullptr) return Err(ftruncate(static_cast<int>(fi->fh), size));
  const int fd = openat(g_root, Rel(path), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  const int rc = Err(ftruncate(fd, size));
  close(fd);
  return rc;
}

int UTimens(const char* path, const struct timespec tv[2], struct fuse_file_info* fi) {
  Meta(Op::kSetattr);
  if (fi != nullptr) return Err(futimens(static_cast<int>(fi->fh), tv));
  return Err(utimensat(g_root, Rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

int Open(const char* path, struct fuse_file_info* fi) {
  Meta(Op::kOpen);
  latencyfs::OpenRevalidate();
  const int fd = openat(g_root, Rel(path), (fi->flags & ~O_NOFOLLOW) | O_CLOEXEC);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int Create(const char* path, mode_t mode, struct fuse_file_info* fi) {
  Meta(Op::kCreate);
  const int fd = openat(g_root, Rel(path), fi->flags | O_CREAT | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int Read(const char*, char* buf, size_t size, off_t off, struct fuse_file_info* fi) {
  Count(Op::kRead);
  const ssize_t n = pread(static_cast<int>(fi->fh), buf, size, off);
  if (n < 0) return -errno;
  latencyfs::ReadTransfer(static_cast<size_t>(n));
  return static_cast<int>(n);
}

int Write(const char*, const char* buf, size_t size, off_t off, struct fuse_file_info* fi) {
  Count(Op::kWrite);
  latencyfs::WriteTransfer(size);
  MarkDirty(static_cast<int>(fi->fh));
  const ssize_t n = pwrite(static_cast<int>(fi->fh), buf, size, off);
  return n < 0 ? -errno : static_cast<int>(n);
}

int StatFs(const char*, struct statvfs* st) {
  Meta(Op::kStatfs);
  return Err(fstatvfs(g_root, st));
}

int Flush(const char*, struct fuse_file_info* fi) {
  Count(Op::kFlush);
  CommitIfDirty(static_cast<int>(fi->fh));
  return 0;
}

int Release(const char*, struct fuse_file_info* fi) {
  Meta(Op::kRelease);  // NFSv4 CLOSE is a round trip too
  CommitIfDirty(static_cast<int>(fi->fh));
  close(static_cast<int>(fi->fh));
  return 0;
}

int FSync(const char*, int datasync, struct fuse_file_info* fi) {
  Meta(Op::kFsync);
  const int fd = static_cast<int>(fi->fh);
  CommitIfDirty(fd);
  return Err(datasync ? fdatasync(fd) : fsync(fd));
}

// A directory handle: the listing is read once, at the first READDIR, and
// served by entry offset from then on.
struct DirHandle {
  int fd = -1;
  bool loaded = false;
  std::vector<std::pair<std::string, struct stat>> entries;
};

DirHandle* HandleOf(struct fuse_file_info* fi) { return reinterpret_cast<DirHandle*>(fi->fh); }

int OpenDir(const char* path, struct fuse_file_info* fi) {
  Meta(Op::kOpendir);
  const int fd = openat(g_root, Rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  auto* h = new DirHandle;
  h->fd = fd;
  fi->fh = reinterpret_cast<uint64_t>(h);
  return 0;
}

int LoadDir(DirHandle* h) {
  const int fd = openat(h->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    close(fd);
    return -errno;
  }
  for (;;) {
    errno = 0;
    struct dirent* de = readdir(dir);
    if (de == nullptr) {
      const int err = errno;
      closedir(dir);
      return -err;
    }
    struct stat st;
    std::memset(&st, 0, sizeof st);
    if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      st.st_ino = de->d_ino;
      st.st_mode = static_cast<mode_t>(DTTOIF(de->d_type));
    }
    h->entries.emplace_back(de->d_name, st);
  }
}

// Entries a real server returns in one READDIR(PLUS) reply: the kernel asks
// FUSE for one page at a time (~25 entries with attributes), NFS for ~32 KiB,
// so a round trip is charged per this many entries, not per kernel request.
constexpr off_t kEntriesPerReply = 128;

int ReadDir(const char*, void* buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info* fi,
            enum fuse_readdir_flags flags) {
  DirHandle* h = HandleOf(fi);
  Count((flags & FUSE_READDIR_PLUS) != 0 ? Op::kReaddirplus : Op::kReaddir);
  if (off == 0 || !h->loaded) {
    latencyfs::RoundTrip();
    h->entries.clear();
    const int rc = LoadDir(h);
    if (rc != 0) return rc;
    h->loaded = true;
  }
  const bool plus = (flags & FUSE_READDIR_PLUS) != 0;
  off_t i = off;
  for (; i < static_cast<off_t>(h->entries.size()); ++i) {
    const auto& [name, st] = h->entries[static_cast<size_t>(i)];
    const bool dots = name == "." || name == "..";
    // libfuse looks each PLUS entry up through GetAttr(); those attributes
    // travel in this reply, so the lookups are not charged (t_in_readdir).
    t_in_readdir = true;
    const int full = filler(buf, name.c_str(), &st, i + 1,
                            plus && !dots ? FUSE_FILL_DIR_PLUS : static_cast<enum fuse_fill_dir_flags>(0));
    t_in_readdir = false;
    if (full != 0) break;
  }
  if (off > 0 && off / kEntriesPerReply != i / kEntriesPerReply) latencyfs::RoundTrip();
  return 0;
}

int ReleaseDir(const char*, struct fuse_file_info* fi) {
  Count(Op::kReleasedir);
  DirHandle* h = HandleOf(fi);
  close(h->fd);
  delete h;
  return 0;
}

int Access(const char* path, int mask) {
  Meta(Op::kAccess);
  return Err(faccessat(g_root, Rel(path), mask, AT_SYMLINK_NOFOLLOW));
}

}  // namespace


namespace latencyfs {

int RunHighLevel() {
  g_root = open(g_cfg.backing.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (g_root < 0) {
    std::fprintf(stderr, "latencyfs: open %s: %s\n", g_cfg.backing.c_str(), std::strerror(errno));
    return 1;
  }
  struct fuse_operations ops;
  std::memset(&ops, 0, sizeof ops);
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.readlink = ReadLink;
  ops.mkdir = MkDir;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.symlink = SymLink;
  ops.rename = Rename;
  ops.chmod = ChMod;
  ops.chown = ChOwn;
  ops.truncate = Truncate;
  ops.utimens = UTimens;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.statfs = StatFs;
  ops.flush = Flush;
  ops.release = Release;
  ops.fsync = FSync;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.releasedir = ReleaseDir;
  ops.access = Access;

  std::vector<std::string> fargs = {"latencyfs", "-o", "fsname=latencyfs,subtype=latencyfs"};
  if (g_cfg.debug) fargs.push_back("-d");
  std::vector<char*> fargv;
  for (auto& s : fargs) fargv.push_back(s.data());
  struct fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fargv.size()), fargv.data());
  struct fuse* fuse = fuse_new(&args, &ops, sizeof ops, nullptr);
  if (fuse == nullptr) return 1;
  if (fuse_mount(fuse, g_cfg.mountpoint.c_str()) != 0) {
    fuse_destroy(fuse);
    return 1;
  }
  struct fuse_session* se = fuse_get_session(fuse);
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_unmount(fuse);
    fuse_destroy(fuse);
    return 1;
  }
  struct fuse_loop_config* loop = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(loop, g_cfg.threads);
  fuse_loop_cfg_set_idle_threads(loop, g_cfg.threads);
  const int rc = fuse_loop_mt(fuse, loop);
  fuse_loop_cfg_destroy(loop);
  fuse_remove_signal_handlers(se);
  fuse_unmount(fuse);
  fuse_destroy(fuse);
  fuse_opt_free_args(&args);
  return rc == 0 ? 0 : 1;
}

}  // namespace latencyfs
