// io::UniqueFd is ha_sync::UniqueFd (include/ha_sync/unique_fd.h), kept
// under this name for the pipeline code that spells it so.
#pragma once

#include "ha_sync/unique_fd.h"

namespace ha_sync::io {

using ha_sync::UniqueFd;

}  // namespace ha_sync::io
