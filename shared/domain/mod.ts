/** Domain vocabulary shared by the journal, agent, CLI and MCP server. */
export * from "./scope.ts";
export * from "./entry_type.ts";
export * from "./roles.ts";
export * from "./approval_status.ts";
