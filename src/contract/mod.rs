//! The resource contract: what every kind of AWS resource provides, and all that the engine may
//! ask of one.
//!
//! It sits below both the engine and the resources, so that neither imports the other: a resource
//! implements [`Resource`] with its own types, [`Kind`] erases those types into a [`Step`], and the
//! engine walks a list of `&dyn Step` that the registry (above both) hands it. This is the same
//! split as Terraform's provider protocol and its graph walker.
//!
//! Also here, because both sides speak them: the step identity ([`StepId`]), what steps tell each
//! other ([`Facts`]), what a run shares ([`Ctx`]), and how a difference is described ([`Change`]).

mod ctx;
mod resource;
mod step;
mod value;

pub use ctx::{known, Ctx, DeployImage, Facts, Revision, Stage, UNKNOWN};
pub use resource::{AnyLive, Detail, Kind, Resource, Step};
pub use step::StepId;
pub use value::{compare, compare_replacing, Change, PlanValue, NONE};
