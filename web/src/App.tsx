import { BrowserRouter, Route, Routes } from "react-router-dom";
import { Toaster } from "sonner";
import { ConnectionBanner } from "./components/ConnectionBanner";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { Header } from "./components/Header";
import { NotFound } from "./components/NotFound";
import { SignInPanel } from "./components/SignInPanel";
import { AuthPage } from "./pages/Auth";
import { GatewayPage } from "./pages/Gateway";
import { IncidentsPage } from "./pages/Incidents";
import { ProxyDetailPage } from "./pages/ProxyDetail";
import { ProxyListPage } from "./pages/ProxyList";
import { LiveProvider, useLive } from "./state/LiveProvider";

function Shell() {
  const { signedOut } = useLive();
  if (signedOut) return <SignInPanel />;
  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <Header />
      <ConnectionBanner />
      <main id="main" tabIndex={-1}>
        <ErrorBoundary>
          <Routes>
            <Route path="/" element={<ProxyListPage />} />
            <Route path="/proxy/:id" element={<ProxyDetailPage />} />
            <Route path="/incidents" element={<IncidentsPage />} />
            <Route path="/gateway" element={<GatewayPage />} />
            <Route path="/auth" element={<AuthPage />} />
            <Route path="*" element={<NotFound title="No such page">This address is not a page of the mcp-acp manager.</NotFound>} />
          </Routes>
        </ErrorBoundary>
      </main>
    </>
  );
}

export function App() {
  return (
    <ErrorBoundary>
      <BrowserRouter>
        <LiveProvider>
          <Shell />
          <Toaster position="bottom-right" richColors closeButton theme="system" />
        </LiveProvider>
      </BrowserRouter>
    </ErrorBoundary>
  );
}
