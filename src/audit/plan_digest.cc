#include "audit/plan_digest.h"

#include <openssl/evp.h>

#include <cstring>

#include "audit/schema.h"

namespace ha_sync::audit {

void PlanDigest::Add(const std::string& stored_filepath, const std::string& operation,
                     std::optional<int64_t> size_before) {
  // filepath NUL operation NUL size|"-": unambiguous, since neither a stored
  // path nor an operation contains NUL.
  std::string key = stored_filepath;
  key.push_back('\0');
  key += operation;
  key.push_back('\0');
  key += size_before ? std::to_string(*size_before) : "-";
  AddItem(key);
}

void PlanDigest::AddItem(const std::string& item) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(item.data(), item.size(), md, &len, EVP_md5(), nullptr);
  uint64_t a, b;
  std::memcpy(&a, md, 8);
  std::memcpy(&b, md + 8, 8);
  lane_a_ += a;
  lane_b_ += b;
  ++count_;
}

void PlanDigest::Add(const OpRecord& op) {
  Add(StoredFilepath(op.filepath), ToString(op.operation), op.size_before);
}

}  // namespace ha_sync::audit
