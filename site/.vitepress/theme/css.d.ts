// Vite bundles the theme's stylesheets; to TypeScript a CSS import is a module with nothing in it.
declare module "*.css";
