#include "ha_sync/open_file_limit.h"

#include <algorithm>

namespace ha_sync {

long RaiseOpenFileLimit(rlim_t cap) {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  const rlim_t want = rl.rlim_max == RLIM_INFINITY ? cap : std::min(rl.rlim_max, cap);
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return static_cast<long>(rl.rlim_cur);
  struct rlimit raised = rl;
  raised.rlim_cur = want;
  if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) return static_cast<long>(want);
  return static_cast<long>(rl.rlim_cur);
}

}  // namespace ha_sync
