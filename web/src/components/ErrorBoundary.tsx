import { Component, type ErrorInfo, type ReactNode } from "react";

interface State {
  error: Error | null;
  info: ErrorInfo | null;
}

/** Catches rendering errors below it: details, "Try again" (re-render) and "Reload page". */
export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  state: State = { error: null, info: null };

  static getDerivedStateFromError(error: Error): Partial<State> {
    return { error };
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    this.setState({ info });
    console.error("mcp-acp UI error", error, info.componentStack);
  }

  render() {
    const { error, info } = this.state;
    if (!error) return this.props.children;
    return (
      <div className="page-center" role="alert">
        <div className="panel error-panel">
          <div className="error-icon" aria-hidden="true">!</div>
          <h1>Something went wrong</h1>
          <p className="muted">This part of the page failed to display. Your proxies are not affected.</p>
          <details className="error-details">
            <summary>Error details</summary>
            <pre>{`${error.name}: ${error.message}${info?.componentStack ?? ""}`}</pre>
          </details>
          <div className="row gap">
            <button type="button" className="button button-primary" onClick={() => this.setState({ error: null, info: null })}>
              Try again
            </button>
            <button type="button" className="button" onClick={() => window.location.reload()}>
              Reload page
            </button>
          </div>
        </div>
      </div>
    );
  }
}
