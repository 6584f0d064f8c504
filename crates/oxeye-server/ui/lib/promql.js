// PromQL language support for the editor: completion and validation.

export {};
