// Named fault-injection points, so tests can kill the process at exact
// moments of the audit flow (the exactly-once tests).
//
// ArmFaultPoint("<name>[:<n>]") makes the n-th hit (default: the first) of
// point <name> raise SIGKILL in this process; ha-sync's main() arms it from
// env HA_SYNC_FAULT_POINT. Unarmed costs one branch per hit. Points (see
// opslog_flush.cc, audit_run.cc, opslog_writer.cc):
//   opslog.op_appended      an op line was written to the opslog
//   opslog.intent_appended  an intent line was written to the opslog
//   flush.locked            an opslog is locked, nothing written yet
//   flush.iteration_written the iteration row is written (transaction open)
//   flush.batch             a batch of operation rows is written (transaction open)
//   flush.before_commit     everything is written, COMMIT not yet sent
//   flush.committed         committed, the opslog not yet deleted
//   flush.unlinked          the opslog is deleted
//   run.iteration_started   the 'running' iteration row is written
// In-process tests may set a hook instead: it is called at every point
// (e.g. to kill the database server mid-flush).
//
// Thread-safety: FaultPoint may be called from any thread; ArmFaultPoint
// and SetFaultHook only while no other thread hits points.
#pragma once

#include <functional>

namespace ha_sync::audit {

void FaultPoint(const char* name);
// `spec` is "<name>[:<n>]"; nullptr or "" disarms.
void ArmFaultPoint(const char* spec);
void SetFaultHook(std::function<void(const char* name)> hook);

}  // namespace ha_sync::audit
