#include "cli/apply_command.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "audit/audit_store.h"
#include "audit/dsn.h"
#include "audit/plan_lookup.h"
#include "cli/options.h"
#include "cli/run.h"
#include "ha_sync/flag_table.h"
#include "pipeline/plan_file.h"

namespace ha_sync::cli {

namespace {

constexpr int64_t kDefaultMaxAgeSeconds = 86400;

// A refusal: the exit code and its one line.
struct Refusal {
  int code = kExitOk;
  std::string line;
  bool done = false;  // nothing to do: stop with code 0
  bool refused() const { return done || code != kExitOk; }
};
Refusal Usage(std::string line) { return {kExitUsage, std::move(line)}; }
Refusal Refuse(std::string line) { return {kExitFailed, std::move(line)}; }

struct ApplyFlags {
  std::string plan;
  int64_t max_age_seconds = kDefaultMaxAgeSeconds;
  std::string by;  // approve: who approves
  bool help = false;
};

// How many unapplied plans `--plan latest-approved` looks through for an approved one.
constexpr int kApprovedSearchLimit = 100;

// --plan, --plan-max-age and --help go to `t`; every other argument is the run's.
void SplitArgs(const std::vector<std::string>& args, std::vector<std::string>* own,
               std::vector<std::string>* run) {
  run->push_back(args[0]);
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool takes_value = a == "--plan" || a == "--plan-max-age" || a == "--by";
    if (takes_value || a.rfind("--plan=", 0) == 0 || a.rfind("--plan-max-age=", 0) == 0 ||
        a.rfind("--by=", 0) == 0 || a == "--help" || a.rfind("--help=", 0) == 0) {
      own->push_back(a);
      if (takes_value && i + 1 < args.size()) own->push_back(args[++i]);
    } else {
      run->push_back(a);
    }
  }
}

std::string Describe(int64_t id) { return "plan " + std::to_string(id); }

// The checks that hold until the run starts: re-made under the pair's lock.
// `made_at_ms`: when the trees were last seen as the plan says (an unchanged
// dry-run refreshes the plan file, not the row).
std::string CheckStillApplicable(audit::SqlConnection* conn, const audit::IterationRow& plan,
                                 int64_t made_at_ms, int64_t max_age_seconds) {
  const int64_t age_ms = NowMs() - made_at_ms;
  if (age_ms > max_age_seconds * 1000) {
    return Describe(plan.id) + " is " + std::to_string(age_ms / 1000) +
           " s old, older than --plan-max-age " + std::to_string(max_age_seconds) +
           " s: make a new dry-run and review it";
  }
  auto applied = audit::LastApplyOf(conn, plan.id);
  if (!applied.ok()) return "cannot read the audit database: " + applied.status().message();
  if (applied->has_value() && (*applied)->status == "success") {
    return Describe(plan.id) + " was already applied by run " + std::to_string((*applied)->id) +
           " at " + FormatUtcMs((*applied)->started_at_ms);
  }
  auto since = audit::RealRunSince(conn, plan.pair, made_at_ms, plan.id, plan.shard_index, plan.shard_count);
  if (!since.ok()) return "cannot read the audit database: " + since.status().message();
  if (since->has_value()) {
    return Describe(plan.id) + " is out of date: pair '" + plan.pair + "' ran (" +
           (*since)->direction + ", run " + std::to_string((*since)->id) + " at " +
           FormatUtcMs((*since)->started_at_ms) + ") after it was made; make a new dry-run";
  }
  return "";
}

// The plan id named by --plan (a number or "latest").
Refusal ResolvePlanId(audit::SqlConnection* conn, const ApplyFlags& flags, const Options& o,
                      int64_t* id) {
  if (flags.plan == "latest") {
    auto latest = audit::LatestUnappliedPlan(conn, o.pair, o.direction, o.shard_index, o.shard_count);
    if (!latest.ok()) return Refuse("cannot read the audit database: " + latest.status().message());
    if (!latest->has_value()) {
      return Refuse("no plan to apply: pair '" + o.pair + "' " + o.direction +
                    " has no successful dry-run that was not applied yet");
    }
    *id = **latest;
    return {};
  }
  if (flags.plan == "latest-approved") {
    auto plans = audit::UnappliedPlans(conn, o.pair, o.direction, o.shard_index, o.shard_count,
                                       kApprovedSearchLimit);
    if (!plans.ok()) return Refuse("cannot read the audit database: " + plans.status().message());
    for (const audit::IterationRow& p : *plans) {
      if (!p.run_id.empty() && pipeline::IsPlanApproved(pipeline::PlanFilePath(o.log_dir, o.pair, p.run_id))) {
        *id = p.id;
        return {};
      }
    }
    // Waiting for an approval is the normal state of an unattended apply
    // (a CronJob), not a failure.
    return {kExitOk,
            "no approved plan to apply: pair '" + o.pair + "' " + o.direction +
                " has no successful dry-run approved with 'ha-sync approve' and not applied yet; nothing done",
            true};
  }
  if (!ParseCount(flags.plan, 1, INT64_MAX, id)) {
    return Usage("--plan must be a plan id (the dry-run's iteration id), 'latest' or 'latest-approved'");
  }
  return {};
}

// The stored dry-run `id`, checked against the run's flags.
Refusal CheckPlanRow(const std::optional<audit::IterationRow>& row, int64_t id, const Options& o) {
  if (!row) return Usage("no plan " + std::to_string(id) + ": no run has that id");
  if (!row->dry_run) return Usage(Describe(id) + " is not a dry-run (it is a production run)");
  if (row->pair != o.pair || row->direction != o.direction) {
    return Usage(Describe(id) + " is of pair '" + row->pair + "' " + row->direction + ", not '" +
                 o.pair + "' " + o.direction);
  }
  // A shard's plan lists only that shard's part of the tree.
  if (row->shard_count != o.shard_count || row->shard_index != o.shard_index) {
    auto part = [](int index, int count) {
      return count > 1 ? "shard " + std::to_string(index) + "/" + std::to_string(count) : std::string("unsharded");
    };
    return Usage(Describe(id) + " is " + part(row->shard_index, row->shard_count) + ", this run is " +
                 part(o.shard_index, o.shard_count) + ": give the same --shard");
  }
  if (row->status != "success") {
    return Refuse(Describe(id) + " did not succeed (status " + row->status + "): it cannot be applied");
  }
  if (row->run_id.empty()) return Refuse(Describe(id) + " has no run id: it has no plan file");
  return {};
}

Refusal CheckPlanFile(const pipeline::Plan& plan, int64_t id, const Options& o) {
  const pipeline::PlanHeader& h = plan.header();
  if (h.src != o.src || h.dest != o.dest) {
    return Usage(Describe(id) + " was made for --src " + h.src + " --dest " + h.dest +
                 ", not these roots");
  }
  if (h.delete_missing != o.delete_missing) {
    return Usage(Describe(id) + (h.delete_missing ? " was made with" : " was made without") +
                 " --delete-missing: give the same flag");
  }
  return {};
}

// `command`: "apply" or "approve".
int Report(const char* command, const Refusal& r) {
  if (r.code == kExitOk) {
    std::printf("ha-sync %s: %s\n", command, r.line.c_str());
    return kExitOk;
  }
  std::fprintf(stderr, "ha-sync %s: %s\n", command, r.line.c_str());
  if (r.code == kExitUsage) std::fprintf(stderr, "Try 'ha-sync %s --help'.\n", command);
  return r.code;
}

// A stored dry-run found and checked: its row, its plan file, and the
// store the checks are made again with (under the lock, by apply).
struct CheckedPlan {
  std::unique_ptr<audit::AuditStore> store;
  audit::IterationRow row;
  std::shared_ptr<const pipeline::Plan> plan;
  int64_t made_at_ms = 0;  // when the trees were last seen as the plan says
};

// `command`: "apply" or "approve", for messages.
Refusal FindCheckedPlan(const char* command, const Options& o, const ApplyFlags& flags, CheckedPlan* out) {
  if (o.dry_run || o.bench || o.show_version) {
    return Usage(std::string("--dry-run, --bench and --version do not go with ") + command);
  }
  auto dsn = audit::ParseDsn(o.db_dsn, o.log_dir);
  if (!dsn.ok()) return Usage(dsn.status().message());
  auto store = audit::AuditStore::Open(*dsn);
  if (!store.ok()) return Refuse("cannot read the plans: " + store.status().message());
  out->store = std::move(*store);
  audit::SqlConnection* conn = out->store->connection();
  int64_t id = 0;
  if (Refusal r = ResolvePlanId(conn, flags, o, &id); r.refused()) return r;
  auto row = audit::FindIteration(conn, id);
  if (!row.ok()) return Refuse("cannot read the audit database: " + row.status().message());
  if (Refusal r = CheckPlanRow(*row, id, o); r.refused()) return r;
  out->row = **row;
  auto plan = pipeline::Plan::Load(pipeline::PlanFilePath(o.log_dir, o.pair, out->row.run_id));
  if (!plan.ok()) return Refuse(Describe(id) + " cannot be applied: " + plan.status().message());
  out->plan = *plan;
  if (Refusal r = CheckPlanFile(*out->plan, id, o); r.refused()) return r;
  out->made_at_ms = std::max(out->row.started_at_ms, out->plan->header().created_at_ms);
  if (std::string why = CheckStillApplicable(conn, out->row, out->made_at_ms, flags.max_age_seconds);
      !why.empty()) {
    return Refuse(why);
  }
  return {};
}

// The steps apply and approve share: their own flags (declared in `t`), the
// run's options, --help. Returns the exit code when the command is done
// here (help, bad input), else nullopt with *parsed filled.
std::optional<int> ParsePlanCommand(const char* command, const char* options_title,
                                    const std::vector<std::string>& args, const EnvLookup& env,
                                    FlagTable& t, const ApplyFlags& flags, ParseResult* parsed) {
  std::vector<std::string> own, run_args;
  SplitArgs(args, &own, &run_args);
  if (std::string e = t.Parse(own); !e.empty()) return Report(command, Usage(e));
  if (flags.help) {
    std::printf("%s\n%s:\n%s", t.Help().c_str(), options_title,
                ParseOptions({args[0], "--help"}, EnvLookup()).help.c_str());
    return kExitOk;
  }
  *parsed = ParseOptions(run_args, env);
  if (!parsed->error.empty()) return Report(command, Usage(parsed->error));
  if (!t.Given("plan")) return Report(command, Usage("--plan is required"));
  return std::nullopt;
}

}  // namespace

int RunApplyCommand(const std::vector<std::string>& args, const EnvLookup& env, std::atomic<bool>* stop) {
  ApplyFlags flags;
  FlagTable t(
      "Usage: ha-sync apply --plan ID|latest|latest-approved [--plan-max-age SECONDS]\n"
      "                     --src DIR --dest DIR --pair NAME [the other options of the dry-run]\n\n"
      "Executes exactly the operations of one stored dry-run (its iteration id;\n"
      "'latest': the newest successful dry-run of the pair and direction not applied\n"
      "yet; 'latest-approved': the newest such one approved with 'ha-sync approve'),\n"
      "each only if both sides are still as the dry-run saw them; the others are\n"
      "skipped as stale. Nothing the plan does not list is changed.\n\nOptions");
  t.Text("plan", "ID", "the plan: a dry-run's iteration id, 'latest' or 'latest-approved'; required",
         &flags.plan)
      .Count("plan-max-age", "SECONDS", "refuse plans older than this (default: 86400)", 1,
             INT64_MAX / 1000, &flags.max_age_seconds, "seconds")
      .Switch("help", "print this help", &flags.help);
  ParseResult parsed;
  if (auto done = ParsePlanCommand("apply", "The options of the run (as for ha-sync; --dry-run is refused)",
                                   args, env, t, flags, &parsed)) {
    return *done;
  }
  const Options& o = parsed.options;
  CheckedPlan checked;
  if (Refusal r = FindCheckedPlan("apply", o, flags, &checked); r.refused()) return Report("apply", r);

  std::printf("ha-sync: applying plan %lld (dry-run of %s, %zu operation(s))\n",
              static_cast<long long>(checked.row.id), FormatUtcMs(checked.row.started_at_ms).c_str(),
              checked.plan->size());
  ApplyRequest request;
  request.plan_id = checked.row.id;
  request.plan = checked.plan;
  audit::SqlConnection* conn = checked.store->connection();
  request.recheck = [&] {
    return CheckStillApplicable(conn, checked.row, checked.made_at_ms, flags.max_age_seconds);
  };
  return RunSync(o, stop, env, &request);
}

int RunApproveCommand(const std::vector<std::string>& args, const EnvLookup& env) {
  ApplyFlags flags;
  FlagTable t(
      "Usage: ha-sync approve --plan ID|latest [--by NAME] [--plan-max-age SECONDS]\n"
      "                       --src DIR --dest DIR --pair NAME [the other options of the dry-run]\n\n"
      "Marks one stored dry-run as approved, after the same checks as apply, so that\n"
      "'ha-sync apply --plan latest-approved' (e.g. a CronJob) executes it. Changes\n"
      "no file of the pair.\n\nOptions");
  t.Text("plan", "ID", "the plan: a dry-run's iteration id or 'latest'; required", &flags.plan)
      .Text("by", "NAME", "who approves, kept with the approval (default: env USER, else 'unknown')", &flags.by)
      .Count("plan-max-age", "SECONDS", "refuse plans older than this (default: 86400)", 1,
             INT64_MAX / 1000, &flags.max_age_seconds, "seconds")
      .Switch("help", "print this help", &flags.help);
  ParseResult parsed;
  if (auto done = ParsePlanCommand("approve", "The options of the dry-run (as for ha-sync)", args, env, t,
                                   flags, &parsed)) {
    return *done;
  }
  if (flags.plan == "latest-approved") return Report("approve", Usage("--plan latest-approved is for apply"));
  if (!t.Given("by")) {
    const char* user = Getenv(env, "USER");
    flags.by = user != nullptr && *user != '\0' ? user : "unknown";
  }
  const Options& o = parsed.options;
  CheckedPlan checked;
  if (Refusal r = FindCheckedPlan("approve", o, flags, &checked); r.refused()) return Report("approve", r);
  const std::string path = pipeline::PlanFilePath(o.log_dir, o.pair, checked.row.run_id);
  if (Status s = pipeline::WritePlanApproval(path, flags.by, NowMs()); !s.ok()) {
    return Report("approve", Refuse(s.message()));
  }
  std::printf("ha-sync: plan %lld approved by %s (%zu operation(s)); 'ha-sync apply --plan latest-approved' "
              "with the dry-run's options will execute it\n",
              static_cast<long long>(checked.row.id), flags.by.c_str(), checked.plan->size());
  return kExitOk;
}

}  // namespace ha_sync::cli
