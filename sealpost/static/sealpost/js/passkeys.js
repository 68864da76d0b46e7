// Passkey ceremonies: fetch options from the server, ask the browser's authenticator, send the
// result back. The server keeps the challenge and checks everything; this only carries bytes.
(() => {
  "use strict";

  const b64urlToBuffer = (value) => {
    const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  };

  const bufferToB64url = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  const csrfToken = () => {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  };

  const post = async (url, body) => {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = { error: "The server did not answer as expected. Please try again." };
    }
    if (!response.ok && !data.error) data.error = "The request failed. Please try again.";
    return data;
  };

  const creationOptions = (json) => ({
    ...json,
    challenge: b64urlToBuffer(json.challenge),
    user: { ...json.user, id: b64urlToBuffer(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: b64urlToBuffer(c.id) })),
  });

  const requestOptions = (json) => ({
    ...json,
    challenge: b64urlToBuffer(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: b64urlToBuffer(c.id) })),
  });

  const registrationJSON = (credential) => ({
    id: credential.id,
    rawId: bufferToB64url(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: bufferToB64url(credential.response.clientDataJSON),
      attestationObject: bufferToB64url(credential.response.attestationObject),
      transports: credential.response.getTransports ? credential.response.getTransports() : [],
    },
    clientExtensionResults: credential.getClientExtensionResults(),
    authenticatorAttachment: credential.authenticatorAttachment,
  });

  const assertionJSON = (credential) => ({
    id: credential.id,
    rawId: bufferToB64url(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: bufferToB64url(credential.response.clientDataJSON),
      authenticatorData: bufferToB64url(credential.response.authenticatorData),
      signature: bufferToB64url(credential.response.signature),
      userHandle: credential.response.userHandle ? bufferToB64url(credential.response.userHandle) : null,
    },
    clientExtensionResults: credential.getClientExtensionResults(),
    authenticatorAttachment: credential.authenticatorAttachment,
  });

  const showError = (element, message) => {
    const target = document.getElementById(element.dataset.errorTarget || "passkey-error");
    if (target) {
      target.textContent = message;
      target.hidden = false;
    }
  };

  const browserError = (error) => {
    if (error && error.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out. Please try again.";
    }
    if (error && error.name === "InvalidStateError") return "This passkey is already registered.";
    return "Your browser could not use a passkey here.";
  };

  const busy = (button, on) => {
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
  };

  const signIn = async (button) => {
    busy(button, true);
    try {
      const options = await post(button.dataset.optionsUrl);
      if (options.error) return showError(button, options.error);
      let credential;
      try {
        credential = await navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
      } catch (error) {
        return showError(button, browserError(error));
      }
      const result = await post(button.dataset.verifyUrl, assertionJSON(credential));
      if (result.redirect) window.location.assign(result.redirect);
      else showError(button, result.error);
    } finally {
      busy(button, false);
    }
  };

  const register = async (form) => {
    const button = form.querySelector("button[type=submit]");
    busy(button, true);
    try {
      const options = await post(form.dataset.optionsUrl);
      if (options.error) return showError(form, options.error);
      let credential;
      try {
        credential = await navigator.credentials.create({ publicKey: creationOptions(options.publicKey) });
      } catch (error) {
        return showError(form, browserError(error));
      }
      const name = (form.querySelector("input[name=name]") || { value: "" }).value;
      const result = await post(form.dataset.registerUrl, { name, credential: registrationJSON(credential) });
      if (result.redirect) window.location.assign(result.redirect);
      else showError(form, result.error);
    } finally {
      busy(button, false);
    }
  };

  document.addEventListener("DOMContentLoaded", () => {
    const supported = Boolean(window.PublicKeyCredential && navigator.credentials);
    for (const element of document.querySelectorAll("[data-passkey-unsupported]")) element.hidden = supported;
    for (const button of document.querySelectorAll("button[data-passkey-assert]")) {
      button.hidden = !supported;
      button.addEventListener("click", () => signIn(button));
    }
    for (const form of document.querySelectorAll("form[data-passkey-register]")) {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        register(form);
      });
    }
  });
})();
