#include "cli/plan_compare.h"

#include "audit/plan_digest.h"
#include "pipeline/plan_file.h"

namespace ha_sync::cli {

namespace {

struct PlanFingerprint {
  pipeline::PlanHeader header;
  audit::PlanDigest operations;
};

Result<PlanFingerprint> Fingerprint(const std::string& path) {
  PlanFingerprint f;
  Status s = pipeline::ReadPlanFile(path, &f.header,
                                    [&](pipeline::PlanOp, const std::string& line) { f.operations.AddItem(line); });
  if (!s.ok()) return s;
  return f;
}

}  // namespace

Result<bool> SamePlanFiles(const std::string& a_path, const std::string& b_path) {
  auto a = Fingerprint(a_path);
  if (!a.ok()) return a.status();
  auto b = Fingerprint(b_path);
  if (!b.ok()) return b.status();
  const pipeline::PlanHeader &x = a->header, &y = b->header;
  return x.pair == y.pair && x.direction == y.direction && x.src == y.src && x.dest == y.dest &&
         x.delete_missing == y.delete_missing && a->operations == b->operations;
}

}  // namespace ha_sync::cli
