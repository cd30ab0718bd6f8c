//! `cont.bind`: partial application to fresh and suspended continuations.

use super::*;

scenarios!(
    bind_repeatedly_then_resume_with_the_last_argument,
    bind_values_into_a_suspended_continuation,
);
