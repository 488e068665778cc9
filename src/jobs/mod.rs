//! Background work over the archive: the unusual-access alert engine. (The
//! retention scheduler joins it in the retention issue.)

pub mod alerts;
