// The process's limit on open files. A sync holds many directory fds at
// once (listings ahead of the walk on both sides, the directories files are
// still being copied into, the trash folders of the run, one or two per
// file in flight), which with 32 workers can pass the common soft limit of
// 1024; the hard limit is the real bound and raising to it needs no
// privilege.
//
// Thread-safety: call before starting threads (it changes process state).
#pragma once

#include <sys/resource.h>

namespace ha_sync {

// Raises the soft RLIMIT_NOFILE to the hard one (capped at `cap`); returns
// the soft limit in force afterwards, or -1 when it could not be read.
long RaiseOpenFileLimit(rlim_t cap = 1 << 20);

}  // namespace ha_sync
