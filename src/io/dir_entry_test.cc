#include "io/dir_entry.h"

#include <doctest/doctest.h>

namespace ha_sync::io {

TEST_CASE("temp names are recognised and fit in 255 bytes") {
  const std::string t = MakeSyncTempName("photo.jpg", 0x1234abcd);
  CHECK(t == ".ha-sync.photo.jpg.000000001234abcd.tmp");
  CHECK(IsSyncTempName(t));
  const std::string long_name(255, 'n');
  const std::string lt = MakeSyncTempName(long_name, ~0ULL);
  CHECK(lt.size() == 255);
  CHECK(IsSyncTempName(lt));
  CHECK_FALSE(IsSyncTempName(".ha-sync.photo.jpg.tmp"));
  CHECK_FALSE(IsSyncTempName("photo.jpg"));
  CHECK_FALSE(IsSyncTempName(".ha-sync.x.000000001234ABCD.tmp"));
}

}  // namespace ha_sync::io
