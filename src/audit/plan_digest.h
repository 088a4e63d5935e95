// An order-independent digest of a dry-run plan: the multiset of
// (stored filepath, operation, size_before) triples. Two plans are treated
// as identical when their digests are equal: the count and the sums (mod
// 2^64, two lanes) of each triple's MD5. This lets a plan of millions of
// operations be compared with the stored one while both are streamed, in
// constant memory, whatever order the rows come in.
//
// Thread-safety: a plain value; one thread per object.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ha_sync/op_record.h"

namespace ha_sync::audit {

class PlanDigest {
 public:
  // `stored_filepath` is the text form stored in the database
  // (StoredFilepath()), `operation` "create" | "update" | "delete".
  void Add(const std::string& stored_filepath, const std::string& operation,
           std::optional<int64_t> size_before);
  void Add(const OpRecord& op);
  // Any other item of a multiset (e.g. a plan file's line): the same
  // order-independent sums over its MD5.
  void AddItem(const std::string& item);

  int64_t count() const { return count_; }
  bool operator==(const PlanDigest& other) const {
    return count_ == other.count_ && lane_a_ == other.lane_a_ && lane_b_ == other.lane_b_;
  }
  bool operator!=(const PlanDigest& other) const { return !(*this == other); }

 private:
  int64_t count_ = 0;
  uint64_t lane_a_ = 0;
  uint64_t lane_b_ = 0;
};

}  // namespace ha_sync::audit
