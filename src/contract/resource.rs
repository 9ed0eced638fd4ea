//! The contract itself: [`Resource`], implemented once per kind of AWS resource with its own
//! types, and [`Step`], the same seen without those types, which is all the engine knows.

use std::any::Any;
use std::marker::PhantomData;

use anyhow::{anyhow, Result};
use futures_util::future::{FutureExt, LocalBoxFuture};

use super::{Change, Ctx, Facts, StepId};
use crate::aws::Created;
use crate::state::ResourceRecord;

/// How much a read must find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Everything [`Resource::diff`] compares: for a plan or an apply.
    Full,
    /// Only what identifies the resource and what deleting it needs: for a destroy, so that it
    /// skips the calls that read settings.
    Identity,
}

/// A kind of AWS resource: how to read, compare, create, update and delete it.
///
/// `desired` and `diff` are pure; everything async talks to AWS. Implementations live in
/// `crate::resources`, one file per kind, and import nothing from each other.
// The engine polls every step on the task that runs it (see `engine::graph`), so the futures
// need no `Send` bound, which `async fn` in a trait cannot state.
#[allow(async_fn_in_trait)]
pub trait Resource: 'static {
    /// Its step: the key in the state file and the JSON plan, and the label people see.
    const STEP: StepId;
    /// Keys of the steps whose results this one needs before it can be created or updated; it
    /// must be deleted before them. Everything not listed may run at the same time.
    const DEPENDS_ON: &'static [&'static str] = &[];
    /// Keys of the steps whose *reads* this one's read needs: far fewer than
    /// [`Resource::DEPENDS_ON`], because almost everything is found by its deterministic name.
    const READ_DEPENDS_ON: &'static [&'static str] = &[];
    /// Whether the tool creates and deletes it (false for the default VPC, which is only read).
    const MANAGED: bool = true;
    /// Whether an update makes a new one with a new identity (a task definition revision), so
    /// that what later steps take from it is only known after apply.
    const UPDATE_MAKES_NEW: bool = false;
    /// Whether a change AWS cannot make in place can be carried out by a replacement that
    /// exists beside the old one while what uses it moves over (see [`Resource::replacement`]).
    const REPLACEABLE: bool = false;
    /// The resource as AWS reports it, with what `diff` and later steps need.
    type Live: Send + Sync + 'static;
    /// The resource as the configuration wants it.
    type Desired;

    /// Whether the configuration asks for this resource at all (a task role only with
    /// `[task_role]`). One that exists but is not wanted is deleted once the service no longer
    /// uses it.
    fn wanted(_ctx: &Ctx) -> bool {
        true
    }
    fn desired(ctx: &Ctx, facts: &Facts) -> Self::Desired;
    /// Finds the resource by its deterministic name; `None` when it does not exist.
    async fn read(ctx: &Ctx, facts: &Facts, detail: Detail) -> Result<Option<Self::Live>>;
    /// What differs, field by field, in the values a plan shows.
    fn diff(live: &Self::Live, desired: &Self::Desired) -> Vec<Change>;
    /// Creates it. [`Created::AlreadyExists`] means an earlier attempt whose answer was lost made
    /// it: the caller reads it again and updates it.
    async fn create(ctx: &Ctx, desired: &Self::Desired) -> Result<Created<Self::Live>>;
    async fn update(ctx: &Ctx, live: &Self::Live, desired: &Self::Desired) -> Result<Self::Live>;
    async fn delete(ctx: &Ctx, live: &Self::Live) -> Result<()>;
    /// The resource's tags, as (key, value) pairs; may cost a call where `read` does not return
    /// them, so it is only asked when ownership is in question. By default, those of
    /// [`read_tags`](Self::read_tags): a resource whose read returns its tags needs no other.
    async fn tags(_ctx: &Ctx, live: &Self::Live) -> Result<Vec<(String, String)>> {
        Self::read_tags(live)
            .ok_or_else(|| anyhow!("the {} has no way to read its tags", Self::STEP))
    }
    /// The tags the read returned, when it returns them (so they cost no call): for noticing
    /// that a resource the state records has lost its tags.
    fn read_tags(_live: &Self::Live) -> Option<Vec<(String, String)>> {
        None
    }
    /// Puts this stack's owner tags on a resource found without them (`--adopt`, or one taken
    /// over by `import`).
    async fn tag(ctx: &Ctx, live: &Self::Live) -> Result<()>;
    /// Why `destroy` must keep a resource of this stack that it would otherwise delete (a
    /// repository this tool took over that still holds images), from what the destroy read
    /// found; `None` to delete it. Pure.
    fn kept_by_destroy(_ctx: &Ctx, _live: &Self::Live) -> Option<String> {
        None
    }
    /// Its identity in the state file.
    fn record(live: &Self::Live) -> ResourceRecord;
    /// What later steps learn from it.
    fn publish(live: &Self::Live, facts: &mut Facts);

    /// The desired state of a replacement of `live`, made beside it: for a name that must be
    /// unique, another name.
    fn replacement(_live: &Self::Live, desired: Self::Desired) -> Self::Desired {
        desired
    }

    /// Finds the resource `desired` describes by its name, for a replacement whose create answer
    /// was lost (the usual read finds the resource it replaces first).
    async fn find(_ctx: &Ctx, _desired: &Self::Desired) -> Result<Option<Self::Live>> {
        Ok(None)
    }

    /// What later steps learn from a resource being replaced (by its record, which may come
    /// from the state of an earlier, interrupted run).
    fn publish_retiring(_record: &ResourceRecord, _facts: &mut Facts) {}

    /// Deletes a replaced resource, known by its record, once nothing uses it.
    async fn retire(_ctx: &Ctx, record: &ResourceRecord) -> Result<()> {
        Err(anyhow!(
            "internal error: the {} {} is not replaceable",
            Self::STEP,
            record.id
        ))
    }
}

/// A live resource of any kind, as the engine holds it between its passes.
pub type AnyLive = Box<dyn Any + Send + Sync>;

/// A [`Resource`] without its types: what the engine walks.
///
/// Every method that takes an [`AnyLive`] expects one made by the same step; given another, it
/// fails with an internal error instead of panicking.
pub trait Step: Sync {
    fn id(&self) -> StepId;
    fn depends_on(&self) -> &'static [&'static str];
    fn read_depends_on(&self) -> &'static [&'static str];
    fn managed(&self) -> bool;
    fn wanted(&self, ctx: &Ctx) -> bool;
    fn update_makes_new(&self) -> bool;
    fn replaceable(&self) -> bool;
    /// Creates a replacement of `live` beside it.
    fn create_replacement<'a>(
        &'a self,
        ctx: &'a Ctx,
        facts: &'a Facts,
        live: &'a AnyLive,
    ) -> LocalBoxFuture<'a, Result<AnyLive>>;
    fn publish_retiring(&self, record: &ResourceRecord, facts: &mut Facts);
    fn retire<'a>(
        &'a self,
        ctx: &'a Ctx,
        record: &'a ResourceRecord,
    ) -> LocalBoxFuture<'a, Result<()>>;
    fn read<'a>(
        &'a self,
        ctx: &'a Ctx,
        facts: &'a Facts,
        detail: Detail,
    ) -> LocalBoxFuture<'a, Result<Option<AnyLive>>>;
    fn diff(&self, ctx: &Ctx, facts: &Facts, live: &AnyLive) -> Result<Vec<Change>>;
    /// Creates the resource; when a lost earlier attempt made it already, reads that one with
    /// the real `facts` and updates it to what is desired.
    fn create<'a>(&'a self, ctx: &'a Ctx, facts: &'a Facts) -> LocalBoxFuture<'a, Result<AnyLive>>;
    fn update<'a>(
        &'a self,
        ctx: &'a Ctx,
        facts: &'a Facts,
        live: &'a AnyLive,
    ) -> LocalBoxFuture<'a, Result<AnyLive>>;
    fn delete<'a>(&'a self, ctx: &'a Ctx, live: &'a AnyLive) -> LocalBoxFuture<'a, Result<()>>;
    fn tags<'a>(
        &'a self,
        ctx: &'a Ctx,
        live: &'a AnyLive,
    ) -> LocalBoxFuture<'a, Result<Vec<(String, String)>>>;
    fn tag<'a>(&'a self, ctx: &'a Ctx, live: &'a AnyLive) -> LocalBoxFuture<'a, Result<()>>;
    fn kept_by_destroy(&self, ctx: &Ctx, live: &AnyLive) -> Result<Option<String>>;
    fn read_tags(&self, live: &AnyLive) -> Result<Option<Vec<(String, String)>>>;
    fn record(&self, live: &AnyLive) -> Result<ResourceRecord>;
    fn publish(&self, live: &AnyLive, facts: &mut Facts) -> Result<()>;
}

/// The [`Step`] of resource kind `R`: `&Kind::<R>::NEW` in the registry.
pub struct Kind<R>(PhantomData<fn() -> R>);

impl<R> Kind<R> {
    pub const NEW: Self = Kind(PhantomData);
}

impl<R: Resource> Kind<R> {
    fn live(live: &AnyLive) -> Result<&R::Live> {
        live.downcast_ref::<R::Live>().ok_or_else(|| {
            anyhow!(
                "internal error: the {} step was handed another step's resource",
                R::STEP
            )
        })
    }
}

fn boxed<L: Send + Sync + 'static>(live: L) -> AnyLive {
    Box::new(live)
}

impl<R: Resource> Step for Kind<R> {
    fn id(&self) -> StepId {
        R::STEP
    }

    fn depends_on(&self) -> &'static [&'static str] {
        R::DEPENDS_ON
    }

    fn read_depends_on(&self) -> &'static [&'static str] {
        R::READ_DEPENDS_ON
    }

    fn managed(&self) -> bool {
        R::MANAGED
    }

    fn wanted(&self, ctx: &Ctx) -> bool {
        R::wanted(ctx)
    }

    fn update_makes_new(&self) -> bool {
        R::UPDATE_MAKES_NEW
    }

    fn replaceable(&self) -> bool {
        R::REPLACEABLE
    }

    fn create_replacement<'a>(
        &'a self,
        ctx: &'a Ctx,
        facts: &'a Facts,
        live: &'a AnyLive,
    ) -> LocalBoxFuture<'a, Result<AnyLive>> {
        async move {
            let desired = R::replacement(Self::live(live)?, R::desired(ctx, facts));
            let live = match R::create(ctx, &desired).await? {
                Created::New(live) => live,
                // A lost answer of an earlier attempt made it: carry on with that one.
                Created::AlreadyExists => {
                    let found = R::find(ctx, &desired).await?.ok_or_else(|| {
                        anyhow!(
                            "AWS says the replacement {} already exists, but it cannot be read",
                            R::STEP
                        )
                    })?;
                    if R::diff(&found, &desired).is_empty() {
                        found
                    } else {
                        R::update(ctx, &found, &desired).await?
                    }
                }
            };
            Ok(boxed(live))
        }
        .boxed_local()
    }

    fn publish_retiring(&self, record: &ResourceRecord, facts: &mut Facts) {
        R::publish_retiring(record, facts);
    }

    fn retire<'a>(
        &'a self,
        ctx: &'a Ctx,
        record: &'a ResourceRecord,
    ) -> LocalBoxFuture<'a, Result<()>> {
        async move { R::retire(ctx, record).await }.boxed_local()
    }

    fn read<'a>(
        &'a self,
        ctx: &'a Ctx,
        facts: &'a Facts,
        detail: Detail,
    ) -> LocalBoxFuture<'a, Result<Option<AnyLive>>> {
        async move { Ok(R::read(ctx, facts, detail).await?.map(boxed)) }.boxed_local()
    }

    fn diff(&self, ctx: &Ctx, facts: &Facts, live: &AnyLive) -> Result<Vec<Change>> {
        Ok(R::diff(Self::live(live)?, &R::desired(ctx, facts)))
    }

    fn create<'a>(&'a self, ctx: &'a Ctx, facts: &'a Facts) -> LocalBoxFuture<'a, Result<AnyLive>> {
        async move {
            let desired = R::desired(ctx, facts);
            let live = match R::create(ctx, &desired).await? {
                Created::New(live) => live,
                Created::AlreadyExists => {
                    let found = R::read(ctx, facts, Detail::Full).await?.ok_or_else(|| {
                        anyhow!(
                            "AWS says the {} already exists, but it cannot be read",
                            R::STEP
                        )
                    })?;
                    if R::diff(&found, &desired).is_empty() {
                        found
                    } else {
                        R::update(ctx, &found, &desired).await?
                    }
                }
            };
            Ok(boxed(live))
        }
        .boxed_local()
    }

    fn update<'a>(
        &'a self,
        ctx: &'a Ctx,
        facts: &'a Facts,
        live: &'a AnyLive,
    ) -> LocalBoxFuture<'a, Result<AnyLive>> {
        async move {
            let desired = R::desired(ctx, facts);
            Ok(boxed(R::update(ctx, Self::live(live)?, &desired).await?))
        }
        .boxed_local()
    }

    fn delete<'a>(&'a self, ctx: &'a Ctx, live: &'a AnyLive) -> LocalBoxFuture<'a, Result<()>> {
        async move { R::delete(ctx, Self::live(live)?).await }.boxed_local()
    }

    fn tags<'a>(
        &'a self,
        ctx: &'a Ctx,
        live: &'a AnyLive,
    ) -> LocalBoxFuture<'a, Result<Vec<(String, String)>>> {
        async move { R::tags(ctx, Self::live(live)?).await }.boxed_local()
    }

    fn tag<'a>(&'a self, ctx: &'a Ctx, live: &'a AnyLive) -> LocalBoxFuture<'a, Result<()>> {
        async move { R::tag(ctx, Self::live(live)?).await }.boxed_local()
    }

    fn kept_by_destroy(&self, ctx: &Ctx, live: &AnyLive) -> Result<Option<String>> {
        Ok(R::kept_by_destroy(ctx, Self::live(live)?))
    }

    fn read_tags(&self, live: &AnyLive) -> Result<Option<Vec<(String, String)>>> {
        Ok(R::read_tags(Self::live(live)?))
    }

    fn record(&self, live: &AnyLive) -> Result<ResourceRecord> {
        Ok(R::record(Self::live(live)?))
    }

    fn publish(&self, live: &AnyLive, facts: &mut Facts) -> Result<()> {
        R::publish(Self::live(live)?, facts);
        Ok(())
    }
}
