/**
 * The widget module's name and version, as the kernel's `MetricsChart` names them
 * (`_model_module`, `_model_module_version`): a contract shared with
 * submarine_jupyter/kernel, changed only together with it.
 */
export const MODULE_NAME = 'submarine-jupyter';
export const MODULE_VERSION = '0.1.0';
