// Type declarations for async-exit-hook 2.x, which ships none. Only what src/dev uses.
declare module 'async-exit-hook' {
  interface AsyncExitHook {
    (hook: (done?: () => void) => void): void;
    /** Stops listening to a process event (`SIGINT`, `exit`, …) that the module hooked. */
    unhookEvent(event: string): void;
    /** Events currently hooked. */
    hookedEvents(): string[];
  }
  const exitHook: AsyncExitHook;
  export default exitHook;
}
