// Distillation module
