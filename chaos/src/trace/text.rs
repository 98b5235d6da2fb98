//! Records as text lines and JSON lines (`faultline trace dump`). SKELETON.
