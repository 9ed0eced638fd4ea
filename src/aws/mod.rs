//! Everything about talking to AWS that is not specific to one resource: building the SDK
//! clients from the standard credential chain, and recognising the errors that the resource steps
//! branch on.

mod clients;
pub mod errors;
pub mod retry;

pub use clients::{AwsClients, ConnectOptions};
