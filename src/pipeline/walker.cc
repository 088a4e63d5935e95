#include "pipeline/walker.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include "ha_sync/text.h"
#include "io/dir_reader.h"
#include "io/file_ops.h"
#include "pipeline/plan_apply.h"
#include "pipeline/temp_tags.h"

namespace ha_sync::pipeline {

using io::Entry;
using io::FileType;

namespace {

StateEntry ToState(const Entry& e) {
  StateEntry s;
  s.name = e.name;
  s.type = e.type;
  s.size = e.type == FileType::kFile ? e.size : 0;
  s.mtime_ns = e.mtime_ns;
  return s;
}

// The name's record in the directory's old state, kept with a pending directory.
std::optional<StateEntry> OldState(const Action& a) {
  if (a.state == nullptr) return std::nullopt;
  return *a.state;
}

}  // namespace

Status Walker::Walk() {
  const ListingShape shape = ListingShapeFor(ctx_.opt.workers, ctx_.opt.network_roots);
  lookahead_ = shape.lookahead;
  prefetch_ = std::make_unique<PrefetchBudget>(shape.prefetch);
  listing_pool_ = std::make_unique<ThreadPool>(shape.threads, lookahead_);
  Status s = VisitRoot();
  if (!s.ok()) {
    stack_.clear();
    EndListing();
    return s;
  }
  while (!stack_.empty() && !ctx_.Stopping() && fatal_.ok()) VisitNext();
  // Stopped: directories created (or planned) but not visited still get their line.
  for (PendingDir& p : stack_) {
    if (p.create_op) ctx_.Record(std::move(*p.create_op));
  }
  stack_.clear();  // drops unconsumed listings (their fds close with them)
  prefetched_here_.clear();
  EndListing();
  if (!fatal_.ok()) ctx_.scan_errors.fetch_add(1);  // no delete, no state
  return fatal_;
}

void Walker::EndListing() {
  // Tasks still running may submit prefetches through listing_pool_: wait
  // for them before the pointer goes (reset() nulls it before destroying).
  // Listings nobody waits for any more end at once (Wanted()).
  listing_pool_->Wait();
  listing_pool_.reset();
}

Status Walker::VisitRoot() {
  if (ctx_.src_root_id && ctx_.dest_root_id && *ctx_.src_root_id == *ctx_.dest_root_id) {
    return Status::Error("refusing: --src and --dest are the same directory (through a bind mount or a "
                         "second mount); nothing was touched");
  }
  Entry root_attrs;
  Status s = io::StatEntry(ctx_.src_root_fd, ".", ctx_.opt.src_root, &root_attrs);
  if (!s.ok()) return s;
  auto root = std::make_shared<DirNode>(&ctx_);
  root->is_root = true;
  root->src_fd = ctx_.src_root_fd;
  root->dest_fd = ctx_.dest_root_fd;
  root->src_attrs = root_attrs;
  Entry dest_root_attrs;
  if (io::StatEntry(ctx_.dest_root_fd, ".", ctx_.opt.dest_root, &dest_root_attrs).ok()) {
    root->dest_mtime_before_ns = dest_root_attrs.mtime_ns;
  }
  std::vector<Entry> src_entries, dest_entries;
  s = io::ListDirectory(ctx_.src_root_fd, ".", &src_entries);
  if (s.ok()) s = io::ListDirectory(ctx_.dest_root_fd, ".", &dest_entries);
  if (s.ok()) s = ProcessDir(root, std::move(src_entries), std::move(dest_entries));
  // An unreadable root must never look empty.
  if (!s.ok()) ctx_.scan_errors.fetch_add(1);
  return s;
}

void Walker::VisitNext() {
  // The next directories to visit are the top of the stack: list them ahead.
  for (size_t i = stack_.size(), n = 0; i-- > 0 && n < lookahead_; ++n) {
    if (!stack_[i].listing) StartListing(&stack_[i]);
  }
  PendingDir p = std::move(stack_.back());
  stack_.pop_back();
  const std::string rel = JoinRel(p.parent->rel, p.src.name);
  std::unique_ptr<Listing> l = p.listing->get();
  if (ctx_.Stopping() && l->src_status.err() == ECANCELED) {
    // A prefetch the stop cut short: not unreadable, only not visited.
    if (p.create_op) ctx_.Record(std::move(*p.create_op));
    return;
  }
  auto node = std::make_shared<DirNode>(&ctx_);
  node->parent = p.parent;
  node->rel = rel;
  node->src_attrs = p.src;
  node->created = p.created;
  node->dest_mtime_before_ns = p.dest_mtime_ns;
  const Status& failed = !l->src_status.ok() ? l->src_status : l->dest_status;
  if (!failed.ok()) {
    RecordUnreadable(&p, rel, failed);
    return;
  }
  Status other_root = ctx_.NotTheOtherRoot(l->src_fd.get(), false, rel);
  if (other_root.ok()) other_root = ctx_.NotTheOtherRoot(l->dest_fd.get(), true, rel);
  if (Status s = other_root; !s.ok()) {
    if (p.create_op) ctx_.Record(std::move(*p.create_op));  // made before it was listed
    fatal_ = s;
    return;
  }
  if (p.create_op) ctx_.Record(std::move(*p.create_op));
  node->Adopt(std::move(l->src_fd), std::move(l->dest_fd));
  p.parent.reset();
  prefetched_here_ = std::move(l->children);
  (void)ProcessDir(node, std::move(l->src), std::move(l->dest));
  prefetched_here_.clear();  // subdirectories not descended into: dropped
}

void Walker::RecordUnreadable(PendingDir* p, const std::string& rel, const Status& failed) {
  // Never plan anything, deletes least of all, against a directory we could not read.
  ctx_.scan_errors.fetch_add(1);
  ctx_.KeepOldState(p->parent->rel, p->src.name, p->old ? &*p->old : nullptr);
  if (!p->create_op) {
    ctx_.Fail(ctx_.NewOp(p->dest_exists ? OpKind::kUpdate : OpKind::kCreate, rel + "/"), failed);
  } else if (p->created) {
    // One line for the path: the create, failed, saying what is on dest.
    ctx_.Fail(std::move(*p->create_op),
              Status::Error(failed.message() +
                                "; the directory was created empty, nothing in it was synced",
                            failed.err()));
  } else {
    ctx_.Fail(std::move(*p->create_op), failed);
  }
}

std::unique_ptr<Walker::Listing> Walker::ListBothSides(int src_parent_fd, int dest_parent_fd,
                                                       const std::string& name, const std::string& rel) {
  auto l = std::make_unique<Listing>();
  l->src_status = io::OpenAndListChild(src_parent_fd, name, rel, &l->src_fd, &l->src);
  // A source that cannot be read fails the directory: its dest is not needed.
  if (l->src_status.ok()) {
    l->dest_status = io::OpenAndListChild(dest_parent_fd, name, rel, &l->dest_fd, &l->dest);
  }
  return l;
}

std::unique_ptr<Walker::Listing> Walker::ListPending(const PendingDir& p, const std::string& rel) {
  if (p.dest_exists && p.parent->dest_fd >= 0) {
    return ListBothSides(p.parent->src_fd, p.parent->dest_fd, p.src.name, rel);
  }
  auto l = std::make_unique<Listing>();
  l->src_status = io::OpenAndListChild(p.parent->src_fd, p.src.name, rel, &l->src_fd, &l->src);
  if (!l->src_status.ok()) return l;
  if (p.created && !p.dest_exists && p.parent->dest_fd >= 0) {
    // Made empty by this run a moment ago: listing it would only cost an
    // OPENDIR, a READDIR and a RELEASEDIR round trip on NFS.
    auto opened = io::OpenChildDir(p.parent->dest_fd, p.src.name, rel);
    if (opened.ok()) l->dest_fd.reset(*opened);
    l->dest_status = opened.status();
  }
  return l;
}

void Walker::StartListing(PendingDir* p) {
  auto promise = std::make_shared<std::promise<std::unique_ptr<Listing>>>();
  p->listing = std::make_shared<std::future<std::unique_ptr<Listing>>>(promise->get_future());
  // The task holds its own copy of what it reads (the parent node keeps the
  // parent fds open until the listing is consumed or dropped).
  PendingDir copy{p->parent, p->src, p->dest_exists, p->created, std::nullopt, nullptr, std::nullopt,
                  p->dest_mtime_ns};
  listing_pool_->Submit([this, promise, copy = std::move(copy)] {
    const std::string rel = JoinRel(copy.parent->rel, copy.src.name);
    std::unique_ptr<Listing> l = ListPending(copy, rel);
    PrefetchChildren(l.get(), rel);
    promise->set_value(std::move(l));
  });
}

void Walker::PrefetchChildren(Listing* l, const std::string& rel) {
  if (ctx_.Stopping() || !l->src_status.ok() || !l->dest_status.ok() || l->dest_fd.get() < 0) {
    return;
  }
  std::shared_ptr<ParentFds> parents;
  auto d = l->dest.begin();
  for (const Entry& s : l->src) {
    if (s.type != FileType::kDir) continue;
    while (d != l->dest.end() && d->name < s.name) ++d;
    if (d == l->dest.end() || d->name != s.name || d->type != FileType::kDir) continue;
    const std::string child_rel = JoinRel(rel, s.name);
    if (!ctx_.opt.excluded.empty() && IsExcluded(ctx_.opt.excluded, child_rel)) continue;
    if (prefetch_->taken() >= prefetch_->limit()) return;  // before the dups below
    if (!parents) {
      parents = std::make_shared<ParentFds>();
      parents->src.reset(::fcntl(l->src_fd.get(), F_DUPFD_CLOEXEC, 0));
      parents->dest.reset(::fcntl(l->dest_fd.get(), F_DUPFD_CLOEXEC, 0));
      if (parents->src.get() < 0 || parents->dest.get() < 0) return;  // the walk lists it later
    }
    ListingFuture child = SubmitPrefetch(parents, s.name, child_rel);
    if (!child) return;  // budget spent or queue full
    l->children.emplace(s.name, std::move(child));
  }
}

Walker::ListingFuture Walker::SubmitPrefetch(std::shared_ptr<const ParentFds> parents,
                                             const std::string& name, const std::string& rel) {
  std::shared_ptr<void> token = prefetch_->TryTake();
  if (!token) return nullptr;
  auto promise = std::make_shared<std::promise<std::unique_ptr<Listing>>>();
  auto future = std::make_shared<std::future<std::unique_ptr<Listing>>>(promise->get_future());
  // Expires when the walk drops the future (a subdirectory it does not
  // descend into, a parent listing dropped, a stop): then nothing is listed,
  // and nothing below it is prefetched.
  std::weak_ptr<std::future<std::unique_ptr<Listing>>> wanted = future;
  std::function<void()> task = [this, promise, parents = std::move(parents), name, rel,
                                token = std::move(token), wanted]() mutable {
    std::unique_ptr<Listing> l;
    if (ctx_.Stopping() || wanted.expired()) {
      l = std::make_unique<Listing>();
      l->src_status = Status::Error("stopped before listing '" + rel + "'", ECANCELED);
    } else {
      l = ListBothSides(parents->src.get(), parents->dest.get(), name, rel);
      if (!wanted.expired()) PrefetchChildren(l.get(), rel);
    }
    l->budget_token = std::move(token);
    promise->set_value(std::move(l));
  };
  // Key 1: the walk's own listings (key 0) take turns with prefetches.
  // Refused (queue full): the task and its token go here.
  if (!listing_pool_->TrySubmit(std::move(task), 1)) return nullptr;
  return future;
}

void Walker::DropReserved(const DirNode& node, std::vector<Entry>* entries) const {
  const std::vector<std::string>& excluded = ctx_.opt.excluded;
  auto reserved = [&](const Entry& e) {
    if (node.is_root && !io::IsSyncTempName(e.name) && IsReservedName(e.name, true)) return true;
    return !excluded.empty() && IsExcluded(excluded, JoinRel(node.rel, e.name));
  };
  entries->erase(std::remove_if(entries->begin(), entries->end(), reserved), entries->end());
}

Status Walker::ProcessDir(const NodePtr& node, std::vector<Entry> src_entries,
                          std::vector<Entry> dest_entries) {
  ctx_.progress.dirs_scanned.fetch_add(1, std::memory_order_relaxed);
  DropReserved(*node, &src_entries);
  DropReserved(*node, &dest_entries);
  std::vector<StateEntry> state_entries;
  if (ctx_.state_reader) {
    Status s = ctx_.state_reader->LoadDir(node->rel, &state_entries);
    if (!s.ok()) {
      ctx_.scan_errors.fetch_add(1);
      ctx_.Fail(ctx_.NewOp(OpKind::kUpdate, node->rel + "/"), s);
      return node->is_root ? s : Status::Ok();
    }
  }
  // A shard plans only the root names it owns (shard.h); below them, everything.
  if (node->is_root) {
    FilterRootForShard(ctx_.opt.shard, &src_entries, &dest_entries,
                       ctx_.state_reader ? &state_entries : nullptr);
  }
  ctx_.progress.entries_scanned.fetch_add(
      static_cast<int64_t>(src_entries.size() + dest_entries.size()), std::memory_order_relaxed);
  deletes_.CountDestFiles(dest_entries);
  const std::vector<Action> plan = PlanDirectory(
      src_entries, dest_entries, ctx_.state_reader ? &state_entries : nullptr, ctx_.plan);
  const size_t stack_base = stack_.size();
  bool spooled_here = false;
  std::vector<StateEntry> next_state;
  for (const Action& planned : plan) {
    if (ctx_.Stopping()) return Status::Ok();
    Action a = planned;
    const bool run = !ctx_.opt.apply_plan || AllowedByPlan(*node, &a);
    if (a.next == NextState::kRecordSource) {
      next_state.push_back(ToState(*a.src));
    } else if (a.next == NextState::kKeepOld && a.state != nullptr) {
      next_state.push_back(*a.state);
      if (a.state->type == FileType::kDir && ctx_.state_writer && a.kind != ActionKind::kDescend) {
        CarryStateSubtree(JoinRel(node->rel, a.state->name));
      }
    }
    if (run) HandleAction(node, a, &spooled_here);
  }
  if (ctx_.state_writer) {
    Status st = ctx_.state_writer->WriteDir(node->rel, std::move(next_state));
    if (!st.ok()) {
      ctx_.scan_errors.fetch_add(1);  // an incomplete state must not be committed
      ctx_.Warn(st.message());
    }
  }
  // Visit subdirectories in name order: the stack pops the last one first.
  std::reverse(stack_.begin() + static_cast<std::ptrdiff_t>(stack_base), stack_.end());
  if (spooled_here && !ctx_.opt.dry_run) {
    node->deletes_here = true;
    deletes_.SpoolRestoreTimes(*node);
  }
  return Status::Ok();
}

bool Walker::AllowedByPlan(const DirNode& node, Action* a) {
  const std::optional<OpKind> change = ChangeOf(a->kind);
  const std::string rel = JoinRel(node.rel, a->src != nullptr ? a->src->name : a->dest->name);
  if (!change) return !StaleWithoutChange(rel, *a);
  // A directory to delete: the delete runner keeps to the planned paths in it.
  if (*change == OpKind::kDelete && a->dest->type == FileType::kDir) return true;
  const PlanOp* op = ctx_.Planned(*change, rel);
  std::string why;
  if (op != nullptr) why = ChangedPrecondition(*op, a->src, a->dest);
  if (op != nullptr && why.empty()) return true;
  // Not planned, or changed since: left as it is, and so is its record.
  a->next = NextState::kKeepOld;
  if (op != nullptr) ctx_.Stale(*change, rel, why);
  return false;
}

bool Walker::StaleWithoutChange(const std::string& rel, const Action& a) {
  // Done already (a re-run after a kill), or nothing planned here.
  if (a.kind == ActionKind::kInSync || a.kind == ActionKind::kDescend) return false;
  for (OpKind op : {OpKind::kCreate, OpKind::kUpdate, OpKind::kDelete}) {
    const PlanOp* planned = ctx_.Planned(op, rel);
    if (planned == nullptr) continue;
    const std::string why = ChangedPrecondition(*planned, a.src, a.dest);
    if (why.empty()) continue;
    // The plan changed this path, which has moved since (now a conflict,
    // newer in dest, settling...): stale, not what a fresh plan would say.
    ctx_.Stale(op, rel, why);
    return true;
  }
  return false;
}

void Walker::HandleAction(const NodePtr& node, const Action& a, bool* spooled_here) {
  const std::string& name = a.src != nullptr ? a.src->name : a.dest->name;
  const std::string rel = JoinRel(node->rel, name);
  if (ctx_.pass > 0 && ReportedInFirstPass(a.kind) && ctx_.replaced_in_first_pass.count(rel) == 0) return;
  switch (a.kind) {
    case ActionKind::kInSync:
    case ActionKind::kDestNewer:
      ctx_.CountSkipped();
      return;
    case ActionKind::kLeaveDestOnly:
    case ActionKind::kIgnoreSourceTemp:
    case ActionKind::kNewOnDest:
    case ActionKind::kDeletedOnDest:
      return;
    case ActionKind::kDestChangedKeep:
      ctx_.Warn("kept '" + EscapeForDisplay(rel) +
                "': deleted in src but changed in dest since the last sync (a change beats a delete)");
      return;
    case ActionKind::kSettling:
      ctx_.settling.fetch_add(1);
      ctx_.CountSkipped();
      return;
    case ActionKind::kFutureDated:
    case ActionKind::kSkipSpecial:
      ctx_.Warn("skipped '" + EscapeForDisplay(rel) + "': " + a.reason);
      ctx_.CountSkipped();
      return;
    case ActionKind::kRemoveStaleTemp:
      RemoveStaleTemp(*node, a, rel);
      return;
    case ActionKind::kConflict: {
      OpRecord op = ctx_.NewOp(OpKind::kUpdate, rel);
      if (a.dest->type == FileType::kFile) op.size_before = a.dest->size;
      // In a dry-run the record is the one the real run will write: part
      // of the plan, not a failure of the dry-run (EngineResult).
      if (ctx_.opt.dry_run) ctx_.planned_conflicts.fetch_add(1, std::memory_order_relaxed);
      ctx_.Fail(std::move(op), Status::Error(a.reason));
      return;
    }
    case ActionKind::kCreateFile:
    case ActionKind::kUpdateFile:
    case ActionKind::kHashThenUpdate:
    case ActionKind::kConflictCopy:
    case ActionKind::kCreateSymlink:
    case ActionKind::kUpdateSymlink:
      files_.Submit(node, a.kind, *a.src, a.dest, a.state);
      return;
    case ActionKind::kCreateDir:
      CreateDir(node, a, rel);
      return;
    case ActionKind::kDescend: {
      ListingFuture listing;
      if (auto it = prefetched_here_.find(a.src->name); it != prefetched_here_.end()) {
        listing = std::move(it->second);
        prefetched_here_.erase(it);
      }
      stack_.push_back(
          {node, *a.src, true, false, OldState(a), std::move(listing), std::nullopt, a.dest->mtime_ns});
      return;
    }
    case ActionKind::kDelete:
    case ActionKind::kReplace:
      SpoolDelete(node, a, rel, spooled_here);
      return;
  }
}

void Walker::RemoveStaleTemp(const DirNode& node, const Action& a, const std::string& rel) {
  if (!IsOwnTemp(*a.dest, ctx_.opt.own_temp_tags)) {
    ctx_.Warn("left '" + EscapeForDisplay(rel) +
              "' alone: it is named like an ha-sync temp file, but no run of this pair made it");
  } else if (!ctx_.opt.dry_run) {
    Status s = io::RemoveEntry(node.dest_fd, a.dest->name, false, rel);
    if (s.ok()) {
      ctx_.Warn("removed a temp file left by an earlier run: '" + EscapeForDisplay(rel) + "'");
    } else {
      ctx_.Warn(s.message());
    }
  }
}

void Walker::CreateDir(const NodePtr& node, const Action& a, const std::string& rel) {
  OpRecord op = ctx_.NewOp(OpKind::kCreate, rel + "/");
  if (ctx_.opt.dry_run || node->dest_fd < 0) {
    if (ctx_.opt.dry_run) ctx_.NotePlanned(OpKind::kCreate, rel, a.src, nullptr);
    stack_.push_back({node, *a.src, false, false, OldState(a), nullptr, std::move(op), -1});
    return;
  }
  if (ctx_.opt.apply_plan &&
      !ctx_.StillAsPlanned(OpKind::kCreate, node->rel, a.src->name, node->src_fd, node->dest_fd)) {
    ctx_.KeepOldState(node->rel, a.src->name, a.state);
    return;
  }
  ctx_.sink->OnIntent(op);
  Status s = io::MakeDir(node->dest_fd, a.src->name, rel);
  if (!s.ok()) {
    ctx_.KeepOldState(node->rel, a.src->name, a.state);
    ctx_.Fail(std::move(op), s);
    return;
  }
  node->changed = true;
  ctx_.Remember(OpKind::kCreate, rel, FileType::kDir, 0, a.src->mtime_ns);
  stack_.push_back({node, *a.src, false, true, OldState(a), nullptr, std::move(op), -1});
}

bool Walker::ReportedInFirstPass(ActionKind kind) {
  switch (kind) {
    case ActionKind::kInSync:
    case ActionKind::kDestNewer:
    case ActionKind::kDestChangedKeep:
    case ActionKind::kSettling:
    case ActionKind::kFutureDated:
    case ActionKind::kSkipSpecial:
    case ActionKind::kConflict:
      return true;
    default:
      return false;
  }
}

void Walker::SpoolDelete(const NodePtr& node, const Action& a, const std::string& rel,
                         bool* spooled_here) {
  bool all_deleted = true;
  Status s = deletes_.SpoolSubtree(node->dest_fd, rel, *a.dest, &all_deleted);
  if (s.err() == ELOOP) {
    fatal_ = s;  // dest holds the source itself
    return;
  }
  if (!s.ok()) {
    ctx_.scan_errors.fetch_add(1);
    ctx_.Fail(ctx_.NewOp(OpKind::kDelete, a.dest->type == FileType::kDir ? rel + "/" : rel), s);
    return;
  }
  *spooled_here = true;
  if (a.kind != ActionKind::kReplace) return;
  needs_second_pass_ = true;
  ctx_.replaced_in_first_pass.insert(rel);
  if (!ctx_.opt.dry_run) return;
  // Dry-run: plan the creates now, as if dest were missing.
  if (a.src->type == FileType::kDir) {
    ctx_.NotePlanned(OpKind::kCreate, rel, a.src, nullptr);
    stack_.push_back({node, *a.src, false, false, OldState(a), nullptr,
                      ctx_.NewOp(OpKind::kCreate, rel + "/"), -1});
  } else {
    files_.Submit(node,
                  a.src->type == FileType::kSymlink ? ActionKind::kCreateSymlink
                                                    : ActionKind::kCreateFile,
                  *a.src, nullptr, nullptr);
  }
}

void Walker::CarryStateSubtree(const std::string& rel) {
  std::vector<StateEntry> entries;
  Status s = ctx_.state_reader->LoadDir(rel, &entries);
  if (s.ok()) s = ctx_.state_writer->WriteDir(rel, entries);
  if (!s.ok()) {
    ctx_.scan_errors.fetch_add(1);
    ctx_.Warn(s.message());
    return;
  }
  for (const StateEntry& e : entries) {
    if (e.type == FileType::kDir) CarryStateSubtree(JoinRel(rel, e.name));
  }
}

}  // namespace ha_sync::pipeline
