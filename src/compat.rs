//! Compatibility with indigo-dc/oidc-agent beyond the shared JSON protocol:
//! its encrypted IPC mode (sans-IO; the agent's `conn` drives it, so handlers
//! only ever see plaintext JSON). Its account file formats are read in
//! `account::legacy`.

pub mod ipc_crypt;
