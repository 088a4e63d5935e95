#include "ha_sync/progress.h"

namespace ha_sync {

const char* ToString(Stage stage) {
  switch (stage) {
    case Stage::kStarting: return "starting";
    case Stage::kProbing: return "probing";
    case Stage::kScanning: return "scanning";
    case Stage::kCopying: return "copying";
    case Stage::kDeleting: return "deleting";
    case Stage::kFinishing: return "finishing";
    case Stage::kDone: return "done";
  }
  return "unknown";
}

}  // namespace ha_sync
