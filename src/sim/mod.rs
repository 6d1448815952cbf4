//! A simulated Halo (placeholder, being written).
