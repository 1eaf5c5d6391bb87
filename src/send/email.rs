//! Email by lettre: file or SMTP transport (being written).
