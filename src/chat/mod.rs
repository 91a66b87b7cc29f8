//! Chat (Slack, Discord): one more actor over the operations layer. So far: the grammar of
//! `/ott` ([`grammar`]), pure and shared by every platform. The Slack and Discord adapters,
//! RBAC, confirmations and reply rendering come with the rest of the ChatOps work.

pub mod grammar;
